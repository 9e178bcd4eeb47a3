// Package lmbff is the LM-BFF data pipeline that MeZO's medium_models run on:
// task processors (reading the k-shot TSV and CSV splits), the template
// language of tokenize_multipart_input, label words, demonstrations
// (prompt-demo), the three input modes (prompt, prompt-demo, finetune) and
// dynamic-padding batches.
//
// Everything here follows the reference (princeton-nlp/MeZO medium_models at
// 552cb1b, src/dataset.py and src/processors.py, themselves LM-BFF's) token
// for token; the places where the reference would crash (an assertion, an
// IndexError, a KeyError) are clear errors instead. The flow is:
//
//	task, _ := lmbff.LookupTask("SST-2")
//	examples, _ := task.Load(dataDir, lmbff.SplitTrain)
//	cfg := task.DefaultConfig(lmbff.ModePrompt)
//	enc, _ := lmbff.NewEncoder(tok, task, cfg)
//	f, _ := enc.EncodeExample(examples[0], nil)
//	batch, _ := lmbff.Collate([]lmbff.Feature{f}, tok.PAD())
//
// Randomness. The reference draws every demonstration choice from numpy's
// global legacy RandomState, the same stream that gives each MeZO step its
// seed, and its training dataset draws one permutation per fetched example
// even without demonstrations. [Dataset] therefore never owns a generator:
// each call that consumes randomness takes a [Permuter] (a
// *nprand.RandomState in practice), so the training loop can interleave the
// dataset's draws with its own np.random.randint exactly as the reference
// does (see [Dataset.Get]).
//
// The package is pure Go and depends on the tokenizer only through the small
// [Tokenizer] interface, which *tokenizer.Tokenizer satisfies. No function
// here panics on bad input; every problem is an error that names the file
// and line, the example, or the template part at fault.
package lmbff
