// Package envinfo reports what gomezo runs on: the libtorch under the shim
// (version, CPU or CUDA flavour, where it was loaded from), devices, threads,
// and the Go build.
package envinfo

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/gomezo/gomezo/cgo/torch"
)

// Info is the environment report. Its JSON form is stable for machines.
type Info struct {
	Libtorch struct {
		Version    string `json:"version"`
		Flavour    string `json:"flavour"` // "cpu" or "cuda"
		Library    string `json:"library"` // path of the libtorch library the shim loaded
		Shim       string `json:"shim"`    // path of libmzshim.so
		CuDNN      bool   `json:"cudnn"`
		ParallelOn string `json:"parallel_info,omitempty"`
	} `json:"libtorch"`
	// BLAS is the library libtorch's GEMMs resolved to; Warning is set
	// when it is a slow one (netlib's reference BLAS).
	BLAS struct {
		torch.BLAS
		Warning string `json:"warning,omitempty"`
	} `json:"blas"`
	Devices []string `json:"devices"`
	Threads struct {
		IntraOp int `json:"intra_op"`
		InterOp int `json:"inter_op"`
		CPUs    int `json:"cpus"`
	} `json:"threads"`
	Go struct {
		Version string `json:"version"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
		Module  string `json:"module,omitempty"`
	} `json:"go"`
}

// Collect gathers the report. verbose adds libtorch's parallel_info text.
func Collect(verbose bool) (*Info, error) {
	var in Info
	var err error
	if in.Libtorch.Version, err = torch.Version(); err != nil {
		return nil, err
	}
	cuda, err := torch.BuiltWithCUDA()
	if err != nil {
		return nil, err
	}
	in.Libtorch.Flavour = "cpu"
	if cuda {
		in.Libtorch.Flavour = "cuda"
	}
	if in.Libtorch.Library, in.Libtorch.Shim, err = torch.LibraryPaths(); err != nil {
		return nil, err
	}
	if in.Libtorch.CuDNN, err = torch.CuDNNAvailable(); err != nil {
		return nil, err
	}
	if verbose {
		if in.Libtorch.ParallelOn, err = torch.ParallelInfo(); err != nil {
			return nil, err
		}
	}
	if in.BLAS.BLAS, err = torch.BLASInfo(); err != nil {
		return nil, err
	}
	in.BLAS.Warning = blasWarning(in.BLAS.BLAS)
	in.Devices = []string{torch.CPU.String()}
	n, err := torch.CUDADeviceCount()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		in.Devices = append(in.Devices, torch.CUDA(i).String())
	}
	if in.Threads.IntraOp, err = torch.NumThreads(); err != nil {
		return nil, err
	}
	if in.Threads.InterOp, err = torch.NumInteropThreads(); err != nil {
		return nil, err
	}
	in.Threads.CPUs = runtime.NumCPU()
	in.Go.Version, in.Go.OS, in.Go.Arch = runtime.Version(), runtime.GOOS, runtime.GOARCH
	if bi, ok := debug.ReadBuildInfo(); ok {
		in.Go.Module = bi.Main.Path
	}
	return &in, nil
}

// blasWarning says what to do about a BLAS that makes CPU runs slow.
func blasWarning(b torch.BLAS) string {
	switch b.Vendor {
	case "reference", "none", "unknown":
		return fmt.Sprintf("BLAS %q (%s) is not an optimised library: matrix products run about 10x slower than with OpenBLAS; install it with `apt-get install libopenblas0-pthread`", b.Vendor, b.Library)
	}
	return ""
}

// WriteJSON writes the report as indented JSON.
func (in *Info) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(in)
}

// WriteText writes the report for people.
func (in *Info) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "libtorch   %s (%s)\n", in.Libtorch.Version, in.Libtorch.Flavour)
	fmt.Fprintf(&b, "  library  %s\n", in.Libtorch.Library)
	fmt.Fprintf(&b, "  shim     %s\n", in.Libtorch.Shim)
	if in.Libtorch.Flavour == "cuda" {
		fmt.Fprintf(&b, "  cudnn    %v\n", in.Libtorch.CuDNN)
	}
	blas := in.BLAS.Vendor
	if in.BLAS.Config != "" {
		blas += ", " + in.BLAS.Config
	}
	if in.BLAS.Core != "" {
		blas += ", core " + in.BLAS.Core
	}
	fmt.Fprintf(&b, "blas       %s\n  library  %s\n", blas, in.BLAS.Library)
	if in.BLAS.Warning != "" {
		fmt.Fprintf(&b, "  WARNING  %s\n", in.BLAS.Warning)
	}
	fmt.Fprintf(&b, "devices    %s\n", strings.Join(in.Devices, ", "))
	fmt.Fprintf(&b, "threads    %d intra-op (in use), %d inter-op, %d CPUs available\n", in.Threads.IntraOp, in.Threads.InterOp, in.Threads.CPUs)
	fmt.Fprintf(&b, "go         %s %s/%s\n", in.Go.Version, in.Go.OS, in.Go.Arch)
	if in.Libtorch.ParallelOn != "" {
		fmt.Fprintf(&b, "\n%s", in.Libtorch.ParallelOn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RSS is the process's resident set size now in bytes (/proc/self/statm),
// or 0 when unavailable.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// PeakRSS is the process's maximum resident set size in bytes (Linux
// getrusage reports KiB), or 0 when unavailable.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
