// Package metrics computes the evaluation numbers of the reference (MeZO's
// medium_models over LM-BFF and transformers 4.28.1) in pure Go: the task
// metrics of compute_metrics_mapping, the dev objective that picks the best
// checkpoint, predictions from logits and the eval_loss of HF's legacy
// prediction_loop.
//
// # Fidelity
//
// The target is the reference's stack as Debian 12 ships it: numpy 1.24.2,
// scipy 1.10.1 and scikit-learn 1.2.1 over netlib's reference BLAS. The
// recorded fixtures ran there with numpy 1.24.2 and netlib BLAS (they had no
// scipy or sklearn, which SST-2's accuracy does not need), and
// testdata/oracle.py records those libraries' values for the tests. Each
// function follows that code's order of floating-point operations, so its
// float64 (or float32) result has the same bits:
//
//   - acc, mnli/acc, mnli-mm/acc: count/n, exact.
//   - f1: sklearn 1.2's 2·p·r/(p+r) with p = tp/(tp+fp), r = tp/(tp+fn)
//     (sklearn 1.3 and later compute 2tp/(2tp+fp+fn), which can differ in
//     the last bit).
//   - mcc: sklearn's confusion-matrix formula, 0 when undefined.
//   - spearmanr: scipy's average ranks and numpy's corrcoef; exact below
//     about 10^5 samples, since every sum then is exact.
//   - pearson: scipy.stats.pearsonr with numpy's pairwise mean and netlib's
//     dnrm2/ddot summation order. Under OpenBLAS or MKL scipy itself rounds
//     differently (a few units in the last place).
//   - eval_loss: numpy's float32 pairwise mean.
//
// Undefined correlations are NaN as in scipy (a constant input, a NaN input,
// Spearman with fewer than two samples), and so is their mean "corr". A NaN
// dev objective never counts as a new best (see Better).
//
// Metric names are the reference's without the "eval_" prefix that HF's
// Trainer adds: "acc", "f1", "acc_and_f1", "mcc", "pearson", "spearmanr",
// "corr", "mnli/acc", "mnli-mm/acc".
package metrics
