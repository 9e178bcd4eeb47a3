package torch

/*
#include <stdlib.h>
#include "mz.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Version returns libtorch's version, e.g. "1.13.0".
func Version() (string, error) {
	buf := make([]byte, 64)
	if err := check("version", C.mz_version((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// BuiltWithCUDA reports whether the libtorch under the shim has CUDA kernels.
func BuiltWithCUDA() (bool, error) {
	var y C.int
	err := check("built_with_cuda", C.mz_built_with_cuda(&y))
	return y != 0, err
}

// CUDADeviceCount is the number of usable CUDA devices (0 on CPU builds).
func CUDADeviceCount() (int, error) {
	var n C.int64_t
	err := check("cuda_device_count", C.mz_cuda_device_count(&n))
	return int(n), err
}

// CuDNNAvailable reports whether cuDNN is usable.
func CuDNNAvailable() (bool, error) {
	var y C.int
	err := check("cudnn_available", C.mz_cudnn_available(&y))
	return y != 0, err
}

// SetNumThreads sets libtorch's intra-op thread count (process-wide).
func SetNumThreads(n int) error { return check("set_num_threads", C.mz_set_num_threads(C.int64_t(n))) }

// NumThreads returns libtorch's intra-op thread count.
func NumThreads() (int, error) {
	var n C.int64_t
	err := check("get_num_threads", C.mz_get_num_threads(&n))
	return int(n), err
}

// SetNumInteropThreads sets the inter-op pool size; libtorch allows it only
// once, before any inter-op work.
func SetNumInteropThreads(n int) error {
	return check("set_num_interop_threads", C.mz_set_num_interop_threads(C.int64_t(n)))
}

// NumInteropThreads returns the inter-op pool size.
func NumInteropThreads() (int, error) {
	var n C.int64_t
	err := check("get_num_interop_threads", C.mz_get_num_interop_threads(&n))
	return int(n), err
}

// ManualSeed seeds libtorch's global generators (CPU and every CUDA device),
// as torch.manual_seed does.
func ManualSeed(seed uint64) error { return check("manual_seed", C.mz_manual_seed(C.uint64_t(seed))) }

// ParallelInfo is libtorch's description of its threading backends.
func ParallelInfo() (string, error) {
	var p *C.char
	if err := check("parallel_info", C.mz_parallel_info(&p)); err != nil {
		return "", err
	}
	defer C.mz_free(unsafe.Pointer(p))
	return C.GoString(p), nil
}

// Synchronize waits for the work queued on a CUDA device; a no-op on the CPU.
func Synchronize(d Device) error {
	if !d.CUDA {
		return nil
	}
	return check("cuda_synchronize", C.mz_cuda_synchronize(C.int64_t(d.Index)))
}

// CUDAMemory returns the bytes allocated now and at peak on a CUDA device
// (zeros on CPU builds).
func CUDAMemory(d Device) (allocated, peak int64, err error) {
	var a, p C.int64_t
	err = check("cuda_memory", C.mz_cuda_memory(C.int64_t(d.Index), &a, &p))
	return int64(a), int64(p), err
}

// ReleaseMemory hands freed heap memory back to the OS (glibc's
// malloc_trim), so that resident-memory readings show live memory rather
// than the allocator's caches. It frees no live tensor.
func ReleaseMemory() error { return check("release_memory", C.mz_release_memory()) }

// LibraryPaths returns the files libtorch (libtorch_cpu) and the shim were
// loaded from.
func LibraryPaths() (libtorch, shim string, err error) {
	var a, b *C.char
	if err := check("library_paths", C.mz_library_paths(&a, &b)); err != nil {
		return "", "", err
	}
	defer C.mz_free(unsafe.Pointer(a))
	defer C.mz_free(unsafe.Pointer(b))
	return C.GoString(a), C.GoString(b), nil
}

// CPUMemory is the CPU allocator's view of tensor memory: the bytes held by
// live CPU tensors (parameters, activations, autograd's saved tensors,
// scratch buffers) and the peak since the process started or the last
// ResetCPUPeak. Counting is false when MZ_DEFAULT_CPU_ALLOCATOR kept
// libtorch's own allocator, and then both are 0.
type CPUMemory struct {
	Live, Peak int64
	Counting   bool
}

// CPUMemoryStats reads the counters of the shim's CPU allocator.
func CPUMemoryStats() (CPUMemory, error) {
	var live, peak C.int64_t
	var on C.int
	err := check("cpu_memory", C.mz_cpu_memory(&live, &peak, &on))
	return CPUMemory{Live: int64(live), Peak: int64(peak), Counting: on != 0}, err
}

// ResetCPUPeak sets the CPU peak to the bytes live now.
func ResetCPUPeak() error { return check("cpu_memory_reset_peak", C.mz_cpu_memory_reset_peak()) }

// BLAS describes the BLAS library libtorch's GEMMs resolved to.
type BLAS struct {
	Library string `json:"library"`          // the file sgemm_ was bound from
	Vendor  string `json:"vendor"`           // openblas, mkl, blis, reference, unknown or none
	Config  string `json:"config,omitempty"` // OpenBLAS's openblas_get_config()
	Core    string `json:"core,omitempty"`   // OpenBLAS's kernel, openblas_get_corename()
}

// BLASInfo reports the BLAS in use.
func BLASInfo() (BLAS, error) {
	var lib, vendor, cfg, core *C.char
	if err := check("blas_info", C.mz_blas_info(&lib, &vendor, &cfg, &core)); err != nil {
		return BLAS{}, err
	}
	take := func(p *C.char) string {
		defer C.mz_free(unsafe.Pointer(p))
		return C.GoString(p)
	}
	return BLAS{Library: take(lib), Vendor: take(vendor), Config: take(cfg), Core: take(core)}, nil
}

// Devices lists the devices this build and machine have: cpu, then cuda:N.
func Devices() ([]Device, error) {
	n, err := CUDADeviceCount()
	if err != nil {
		return nil, err
	}
	out := []Device{CPU}
	for i := 0; i < n; i++ {
		out = append(out, CUDA(i))
	}
	return out, nil
}

// CheckDevice returns an error naming the devices available when d is not
// one of them (a CUDA device on a CPU build or beyond the machine's count),
// so callers refuse it before allocating anything.
func CheckDevice(d Device) error {
	if !d.CUDA {
		return nil
	}
	devs, err := Devices()
	if err != nil {
		return err
	}
	names := make([]string, len(devs))
	for i, x := range devs {
		names[i] = x.String()
		if x == d {
			return nil
		}
	}
	cuda, err := BuiltWithCUDA()
	if err != nil {
		return err
	}
	why := fmt.Sprintf("this machine has %d CUDA devices", len(devs)-1)
	if !cuda {
		why = "this libtorch is a CPU build"
	}
	return fmt.Errorf("device %v is not available: %s; devices available: %s", d, why, strings.Join(names, ", "))
}
