/*
 * mz.h: the C ABI of gomezo's libtorch shim (libmzshim.so).
 *
 * Pure C, so Go (cgo) links only this ABI and never libtorch's C++ symbols:
 * a Go binary built against one shim runs against a shim built elsewhere,
 * against another libtorch (1.13 CPU here, 2.x CUDA on GPU hosts).
 *
 * Conventions
 *  - Handles are opaque. mz_tensor owns one reference to a libtorch tensor;
 *    free it with mz_tensor_free. mz_params owns references to a list of
 *    parameter tensors plus reusable scratch buffers; free with mz_params_free.
 *  - Every function returns NULL on success or an error message allocated by
 *    the shim (free it with mz_free). The shim catches c10::Error (message
 *    without backtrace), std::exception and anything else.
 *  - Outputs are written through pointer arguments only on success.
 *  - Grad mode is never left in thread-local state between calls: functions
 *    that compute take `mode` (MZ_NO_GRAD, MZ_GRAD, MZ_INFERENCE) and apply it
 *    for the duration of the call, so goroutines migrating between OS threads
 *    cannot observe a stale mode. Tensors live on the device they are created
 *    on; ops run on their inputs' device (libtorch guards the CUDA device per
 *    op), so no current-device state is relied upon either.
 *    The mode may carry an autocast dtype (MZ_BF16 or MZ_F16) shifted left by
 *    MZ_AUTOCAST_SHIFT: CUDA autocast in that dtype is on for the call only.
 *  - Shapes are int64 arrays with an explicit rank.
 */
#ifndef MZ_SHIM_H
#define MZ_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mz_tensor_s *mz_tensor;
typedef struct mz_params_s *mz_params;
typedef char *mz_err;

/* Grad modes, applied per call. */
enum { MZ_NO_GRAD = 0, MZ_GRAD = 1, MZ_INFERENCE = 2 };
/* mode | (MZ_BF16 << MZ_AUTOCAST_SHIFT): the call runs under CUDA autocast in bf16. */
enum { MZ_AUTOCAST_SHIFT = 8 };

/* Dtypes: values of c10::ScalarType. */
enum {
  MZ_U8 = 0, MZ_I8 = 1, MZ_I16 = 2, MZ_I32 = 3, MZ_I64 = 4,
  MZ_F16 = 5, MZ_F32 = 6, MZ_F64 = 7, MZ_BOOL = 11, MZ_BF16 = 15
};

/* Devices: type MZ_CPU or MZ_CUDA with an index (-1: default). */
enum { MZ_CPU = 0, MZ_CUDA = 1 };

void mz_free(void *p);

/* ---- runtime (runtime.cpp) ---- */
/* version: "1.13.0"; writes into buf (NUL-terminated, truncated to n). */
mz_err mz_version(char *buf, size_t n);
mz_err mz_cuda_device_count(int64_t *count);
/* built_with_cuda: 1 if this libtorch has CUDA kernels compiled in. */
mz_err mz_built_with_cuda(int *yes);
mz_err mz_cudnn_available(int *yes);
mz_err mz_set_num_threads(int64_t n);
mz_err mz_get_num_threads(int64_t *n);
mz_err mz_set_num_interop_threads(int64_t n);
mz_err mz_get_num_interop_threads(int64_t *n);
mz_err mz_manual_seed(uint64_t seed);
/* parallel_info: libtorch's description of its threading backends. Free *out. */
mz_err mz_parallel_info(char **out);
mz_err mz_cuda_synchronize(int64_t device);
/* cuda_memory: bytes allocated / peak on a CUDA device (0 on CPU builds). */
mz_err mz_cuda_memory(int64_t device, int64_t *allocated, int64_t *peak);

/* library_paths: the files libtorch (libtorch_cpu) and this shim were loaded
 * from. Free both strings. */
mz_err mz_library_paths(char **libtorch, char **shim);
/* cpu_memory (memory.cpp): bytes held by live CPU tensors and their peak
 * since the shim loaded or the last reset, counted by the shim's CPU
 * allocator (counting = 0 when MZ_DEFAULT_CPU_ALLOCATOR kept libtorch's). */
mz_err mz_cpu_memory(int64_t *live, int64_t *peak, int *counting);
mz_err mz_cpu_memory_reset_peak(void);
/* blas_info: the library file that libtorch's sgemm_ resolved to, the
 * vendor ("openblas", "mkl", "blis", "reference", "unknown" or "none") and,
 * for OpenBLAS, its config and core name (empty otherwise); four strings
 * for mz_free. */
mz_err mz_blas_info(char **library, char **vendor, char **config, char **core);
/* release_memory: return freed heap memory to the OS (glibc malloc_trim), so
 * resident-memory readings show live memory rather than allocator caches. */
mz_err mz_release_memory(void);

/* ---- tensors (tensor.cpp) ---- */
mz_err mz_tensor_free(mz_tensor t);
/* from_data copies nbytes from data (dtype, row-major) into a new tensor on
 * (dev_type, dev_index). */
mz_err mz_from_data(const void *data, size_t nbytes, const int64_t *shape,
                    int64_t rank, int dtype, int dev_type, int64_t dev_index,
                    mz_tensor *out);
/* to_data copies the tensor (converted to its own dtype, contiguous, on CPU)
 * into data, which must hold exactly numel*element_size bytes. */
mz_err mz_to_data(mz_tensor t, void *data, size_t nbytes);
mz_err mz_zeros(const int64_t *shape, int64_t rank, int dtype, int dev_type,
                int64_t dev_index, mz_tensor *out);
mz_err mz_ones(const int64_t *shape, int64_t rank, int dtype, int dev_type,
               int64_t dev_index, mz_tensor *out);
mz_err mz_full(const int64_t *shape, int64_t rank, double value, int dtype,
               int dev_type, int64_t dev_index, mz_tensor *out);
mz_err mz_arange(int64_t n, int dtype, int dev_type, int64_t dev_index,
                 mz_tensor *out);
/* randn with a generator seeded once (torch.manual_seed stream on CPU). */
mz_err mz_randn(const int64_t *shape, int64_t rank, uint64_t seed, int dtype,
                int dev_type, int64_t dev_index, mz_tensor *out);
mz_err mz_rank(mz_tensor t, int64_t *rank);
/* shape writes min(rank, cap) sizes. */
mz_err mz_shape(mz_tensor t, int64_t *shape, int64_t cap);
mz_err mz_dtype(mz_tensor t, int *dtype);
mz_err mz_device(mz_tensor t, int *dev_type, int64_t *dev_index);
mz_err mz_numel(mz_tensor t, int64_t *n);
mz_err mz_item_double(mz_tensor t, double *v);
mz_err mz_item_int64(mz_tensor t, int64_t *v);
/* shallow: a new handle sharing the same tensor (same storage, autograd). */
mz_err mz_shallow(mz_tensor t, mz_tensor *out);
mz_err mz_clone(mz_tensor t, int mode, mz_tensor *out);
mz_err mz_detach(mz_tensor t, mz_tensor *out);
mz_err mz_to(mz_tensor t, int dtype, int dev_type, int64_t dev_index,
             int mode, mz_tensor *out);
/* copy_ copies src into dst in place (no grad). */
mz_err mz_copy_(mz_tensor dst, mz_tensor src);
mz_err mz_set_requires_grad(mz_tensor t, int yes);
mz_err mz_requires_grad(mz_tensor t, int *yes);
/* grad: the .grad of t, or *out = NULL when it has none. */
mz_err mz_grad(mz_tensor t, mz_tensor *out);
mz_err mz_backward(mz_tensor loss);
mz_err mz_equal(mz_tensor a, mz_tensor b, int *yes);
/* format: libtorch's printout of t. Free *out. */
mz_err mz_format(mz_tensor t, char **out);

/* ---- ops (ops.cpp): every op takes the grad mode it runs under ---- */
mz_err mz_add(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
mz_err mz_sub(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
mz_err mz_mul(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
mz_err mz_div(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
mz_err mz_add_scalar(int mode, mz_tensor a, double s, mz_tensor *out);
mz_err mz_mul_scalar(int mode, mz_tensor a, double s, mz_tensor *out);
mz_err mz_div_scalar(int mode, mz_tensor a, double s, mz_tensor *out);
/* rsub_scalar: s - a. */
mz_err mz_rsub_scalar(int mode, mz_tensor a, double s, mz_tensor *out);
mz_err mz_matmul(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
/* linear: x·Wᵀ + b (b may be NULL). */
mz_err mz_linear(int mode, mz_tensor x, mz_tensor w, mz_tensor b, mz_tensor *out);
/* embedding: rows of weight for ids; the row padding_idx (≥ 0) gets no
 * gradient, as nn.Embedding(padding_idx=…); -1 for none. */
mz_err mz_embedding(int mode, mz_tensor weight, mz_tensor ids, int64_t padding_idx, mz_tensor *out);
mz_err mz_layer_norm(int mode, mz_tensor x, mz_tensor w, mz_tensor b, double eps,
                     mz_tensor *out);
/* gelu: exact (erf) GELU; gelu_tanh: the tanh approximation. */
mz_err mz_gelu(int mode, mz_tensor x, int tanh_approx, mz_tensor *out);
mz_err mz_relu(int mode, mz_tensor x, mz_tensor *out);
mz_err mz_tanh(int mode, mz_tensor x, mz_tensor *out);
mz_err mz_softmax(int mode, mz_tensor x, int64_t dim, mz_tensor *out);
mz_err mz_log_softmax(int mode, mz_tensor x, int64_t dim, mz_tensor *out);
/* dropout: training-mode dropout with probability p from the generator
 * seeded by seed (a fresh generator per call, so masks are reproducible). */
mz_err mz_dropout(int mode, mz_tensor x, double p, uint64_t seed, mz_tensor *out);
mz_err mz_reshape(int mode, mz_tensor x, const int64_t *shape, int64_t rank,
                  mz_tensor *out);
mz_err mz_permute(int mode, mz_tensor x, const int64_t *dims, int64_t rank,
                  mz_tensor *out);
mz_err mz_transpose(int mode, mz_tensor x, int64_t d0, int64_t d1, mz_tensor *out);
mz_err mz_contiguous(int mode, mz_tensor x, mz_tensor *out);
mz_err mz_index_select(int mode, mz_tensor x, int64_t dim, mz_tensor idx,
                       mz_tensor *out);
mz_err mz_narrow(int mode, mz_tensor x, int64_t dim, int64_t start, int64_t len,
                 mz_tensor *out);
mz_err mz_select(int mode, mz_tensor x, int64_t dim, int64_t index, mz_tensor *out);
mz_err mz_cat(int mode, const mz_tensor *xs, int64_t n, int64_t dim, mz_tensor *out);
mz_err mz_cumsum(int mode, mz_tensor x, int64_t dim, mz_tensor *out);
mz_err mz_ne_scalar(int mode, mz_tensor x, double s, mz_tensor *out);
mz_err mz_eq(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
mz_err mz_argmax(int mode, mz_tensor x, int64_t dim, mz_tensor *out);
/* sum / mean over all elements (dim < 0 and keep ignored) or over dim. */
mz_err mz_sum(int mode, mz_tensor x, int64_t dim, int all, mz_tensor *out);
mz_err mz_mean(int mode, mz_tensor x, int64_t dim, int all, mz_tensor *out);
/* cross_entropy: mean CE of logits [B,C] against int64 labels [B]. */
mz_err mz_cross_entropy(int mode, mz_tensor logits, mz_tensor labels, mz_tensor *out);
mz_err mz_mse_loss(int mode, mz_tensor a, mz_tensor b, mz_tensor *out);
/* attention_mask_bias: (1 - mask) * finfo(dtype).min as [B,1,1,L] in dtype. */
mz_err mz_attention_mask_bias(int mode, mz_tensor mask, int dtype, mz_tensor *out);
/* gather_rows: x[arange(B), pos] for x [B,L,H] and pos [B] → [B,H]. */
mz_err mz_gather_rows(int mode, mz_tensor x, mz_tensor pos, mz_tensor *out);
mz_err mz_one_hot(int mode, mz_tensor labels, int64_t classes, mz_tensor *out);
mz_err mz_max_abs_diff(mz_tensor a, mz_tensor b, double *out);

/* ---- parameter lists (params.cpp): one call per pass over all parameters ---- */
/* params_new: a list holding references to n tensors, in order. */
mz_err mz_params_new(const mz_tensor *ts, int64_t n, mz_params *out);
mz_err mz_params_free(mz_params p);
/* params_set_chunk: on the CPU, perturb and update draw z n elements at a
 * time (n a multiple of 16; the stream is unchanged); 0 draws whole tensors.
 * The default is 262144. */
mz_err mz_params_set_chunk(mz_params p, int64_t n);
/* params_release_scratch: free the scratch buffers (they grow back on use). */
mz_err mz_params_release_scratch(mz_params p);
/* params_get: a new handle to tensor i of the list. */
mz_err mz_params_get(mz_params p, int64_t i, mz_tensor *out);
/* perturb: for each tensor p in order, z ~ N(0,1) of p's shape from one
 * generator seeded once with seed on p's device (the reference's
 * torch.manual_seed(seed); torch.normal(...) stream), then
 *   p ← p + (scale·z)·eps      (the reference's rounding: two float products)
 * Uses one reusable scratch buffer per device and dtype. */
mz_err mz_params_perturb(mz_params p, uint64_t seed, double scale, double eps);
/* update: the efficient MeZO update with the same z stream:
 *   p ← p − lr·(g·z + wd·p)   (wd = 0 skips the decay term) */
mz_err mz_params_update(mz_params p, uint64_t seed, double g, double lr, double wd);
/* params_restore_update: the restore (+eps·z) and the update with the same
 * z in one pass: θ ← (θ + eps·z) − lr·(g·z + wd·(θ + eps·z)); one z
 * generation instead of two (not the reference's rounding). */
mz_err mz_params_restore_update(mz_params p, uint64_t seed, double eps, double g, double lr, double wd);
/* accumulate_grad: the trainer-optimizer path of the reference: with z drawn
 * as perturb draws it, p.grad ← g·z when p has no .grad, else p.grad += g·z. */
mz_err mz_params_accumulate_grad(mz_params p, uint64_t seed, double g);
/* clip_grad_norm: torch.nn.utils.clip_grad_norm_(params, max_norm): the L2
 * norm of all .grad together (written to *total), and when it exceeds
 * max_norm every .grad is scaled by max_norm / (total + 1e-6). */
mz_err mz_params_clip_grad_norm(mz_params p, double max_norm, double *total);
/* zero_grad: set every .grad to zero (or drop it when set_to_none). */
mz_err mz_params_zero_grad(mz_params p, int set_to_none);
/* norms: the L2 norm of every tensor (or of its .grad when of_grad),
 * written to out[0..n). */
mz_err mz_params_norms(mz_params p, int of_grad, double *out);
/* numel: the total number of elements of the list. */
mz_err mz_params_numel(mz_params p, int64_t *n);
/* snapshot: a deep copy of every tensor; copy_from: copy values back. */
mz_err mz_params_snapshot(mz_params p, mz_params *out);
/* params_snapshot_to: a list of copies of p's tensors on a device (a
 * best-model snapshot in host memory); copy_from copies back across devices. */
mz_err mz_params_snapshot_to(mz_params p, int dev_type, int64_t dev_index, mz_params *out);
mz_err mz_params_copy_from(mz_params dst, mz_params src);
/* max_abs_diff: max over the lists of max |a − b|, pairwise, in double. */
mz_err mz_params_max_abs_diff(mz_params a, mz_params b, double *out);

/* ---- generators (tensor.cpp): torch's stateful random streams ---- */
typedef struct mz_generator_s *mz_generator;
/* generator_new: a generator for a device seeded with seed, as
 * torch.manual_seed(seed) leaves the default one; draws advance it. */
mz_err mz_generator_new(int dev_type, int64_t dev_index, uint64_t seed, mz_generator *out);
mz_err mz_generator_free(mz_generator g);
/* generator_random64: torch.empty((), dtype=torch.int64).random_() from g
 * (how a DataLoader draws its base seed from the global generator). */
mz_err mz_generator_random64(mz_generator g, int64_t *out);
/* generator_fill: in place from g, as torch's init functions draw: kind 0
 * normal_(mean a, std b), kind 1 uniform_(from a, to b). */
mz_err mz_generator_fill(mz_generator g, mz_tensor t, int kind, double a, double b);
/* generator_randperm: torch.randperm(n, generator=g) into out[n] (the
 * order a RandomSampler with its own generator yields). */
mz_err mz_generator_randperm(mz_generator g, int64_t n, int64_t *out);
/* generator_state: g.get_state() into buf (cap bytes; buf NULL asks only
 * the size n); generator_set_state restores it. */
mz_err mz_generator_state(mz_generator g, uint8_t *buf, int64_t cap, int64_t *n);
mz_err mz_generator_set_state(mz_generator g, const uint8_t *buf, int64_t n);
/* dropout_gen: training-mode dropout exactly as ATen's CPU dropout:
 * noise = empty_like(x).bernoulli_(1 − p, g); noise /= 1 − p; x · noise. */
mz_err mz_dropout_gen(int mode, mz_tensor x, double p, mz_generator g, mz_tensor *out);

/* params_draw_normal: a new list z with z_i ~ N(0, 1) of p_i's shape, drawn
 * in order from g, which advances (the reference's non-efficient path draws
 * z from the global generator and stores it). */
mz_err mz_params_draw_normal(mz_params p, mz_generator g, mz_params *z);
/* params_perturb_stored / params_update_stored: perturb and update as
 * mz_params_perturb / mz_params_update do, with the stored z instead of a
 * seeded stream. */
mz_err mz_params_perturb_stored(mz_params p, mz_params z, double scale, double eps);
mz_err mz_params_update_stored(mz_params p, mz_params z, double g, double lr, double wd);

/* ---- the philox z stream (philox.cpp, philox_cuda.cu; definition in philox.h) ---- */
/* z streams of a parameter list: torch (the default: torch's generator, the
 * reference's stream) or philox (z a pure function of seed, tensor index and
 * element index: the same on every device, thread count and chunk size;
 * each pass fused, multithreaded, one kernel per batch of tensors on CUDA). */
#define MZ_Z_TORCH 0
#define MZ_Z_PHILOX 1
/* params_set_z_stream: the stream perturb, update, restore_update and
 * accumulate_grad draw z from. In philox mode the list's chunk size is the
 * CPU work unit of its parallel loop (the values do not depend on it). */
mz_err mz_params_set_z_stream(mz_params p, int stream);
/* philox_fill: t (contiguous float32/float64, CPU or CUDA) ← z(seed, index,
 * offset + i) for each element i, in parallel parts of grain elements (a
 * positive multiple of 32). */
mz_err mz_philox_fill(mz_tensor t, uint64_t seed, int64_t index, int64_t offset, int64_t grain);
/* philox4x32_10: one Philox4x32-10 block, out[4] from ctr[4] and key[2]. */
mz_err mz_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out);
/* philox_cuda_kernels: *out = 1 when the shim has the CUDA kernels. */
mz_err mz_philox_cuda_kernels(int *out);
/* philox_simd: the CPU build of the philox passes, *out = 0 (portable, 8
 * lanes of GCC vectors), 1 (AVX2) or 2 (AVX-512F); by default the widest the
 * CPU has. want -1 only reads it; 0..2 chooses that build for the passes
 * after (tests and benchmarks: every build gives the same values), an error
 * where the CPU or this build has no such one. */
mz_err mz_philox_simd(int want, int *out);
/* params_scale_stored (zo_extra.cpp): a list z' with z'_i = z_i / c_i
 * (divide) or z_i * c_i, as torch's tensor-by-float operators round; c_i = 1
 * shares z_i itself. The reference's z/d_c perturbation and z·d_c gradient. */
mz_err mz_params_scale_stored(mz_params z, const double *c, int divide, mz_params *out);
/* params_accumulate_grad_stored: p.grad ← g·z (or += g·z) with a stored z. */
mz_err mz_params_accumulate_grad_stored(mz_params p, mz_params z, double g);
/* params_sumsq: torch.sum(t**2) of every tensor (or its .grad) in the
 * tensor's dtype, as float; defined[i] = 0 for a missing .grad. */
mz_err mz_params_sumsq(mz_params p, int of_grad, float *out, int *defined);

/* ---- optimizers (optim.cpp): one call per step over all parameters ---- */
typedef struct mz_optim_s *mz_optim;
/* optim_sgd: torch.optim.SGD without momentum (the reference's `sgd`): for
 * every tensor with a .grad, d = grad + wd_i·p (when wd_i ≠ 0), p −= lr·d.
 * wd has one weight decay per tensor of params. */
mz_err mz_optim_sgd(mz_params params, const double *wd, mz_optim *out);
/* optim_adamw_hf: transformers.AdamW (4.28), which differs from torch's
 * AdamW: eps added to the raw sqrt(v), both bias corrections folded into the
 * step size, and decoupled decay p += (−lr·wd_i)·p applied after the update. */
mz_err mz_optim_adamw_hf(mz_params params, const double *wd, double beta1, double beta2,
                         double eps, int correct_bias, mz_optim *out);
/* optim_sgd_momentum: torch.optim.SGD with momentum (1.13, foreach off):
 * d = grad (+ wd·p); buf = d at the first step, else buf·m + (1−dampening)·d;
 * d = nesterov ? d + m·buf : buf; p −= lr·d. The buffers are the state's
 * exp_avg (exp_avg_sq unused). */
mz_err mz_optim_sgd_momentum(mz_params params, const double *wd, double momentum, double dampening, int nesterov,
                             mz_optim *out);
/* optim_torch_adam: libtorch's own torch::optim::Adam (coupled L2 decay,
 * decoupled 0) or torch::optim::AdamW (decoupled 1), one parameter group per
 * distinct weight decay. */
mz_err mz_optim_torch_adam(mz_params params, const double *wd, double beta1, double beta2, double eps, int amsgrad,
                           int decoupled, mz_optim *out);
/* optim_step: one step at learning rate lr (the scheduled value). Tensors
 * without a .grad are skipped, as torch and transformers skip them. */
mz_err mz_optim_step(mz_optim o, double lr);
mz_err mz_optim_free(mz_optim o);
/* optim_state: the AdamW state (per-tensor step counts into steps[n], copies
 * of the moments as two new lists; zeros and 0 for tensors not stepped yet;
 * SGD has none: zeros). optim_set_state restores it (copied). */
mz_err mz_optim_state(mz_optim o, int64_t *steps, mz_params *exp_avg, mz_params *exp_avg_sq);
mz_err mz_optim_set_state(mz_optim o, const int64_t *steps, mz_params exp_avg, mz_params exp_avg_sq);
/* optim_info: what an optimizer was built as, read back from it (libtorch's
 * own from its parameter groups' options): kind 0 sgd, 1 transformers AdamW,
 * 2 sgd with momentum, 3 torch Adam, 4 torch AdamW; hyper[8] = beta1, beta2,
 * eps, correct_bias (0 for sgd), momentum, dampening, nesterov, 0; wd[n] the weight decay
 * each tensor of the list gets. */
mz_err mz_optim_info(mz_optim o, int *kind, double *hyper, double *wd);

#ifdef __cplusplus
}
#endif
#endif /* MZ_SHIM_H */
