// Package recipe is the run description of gomezo: a typed YAML schema,
// its defaults, strict decoding, validation that reports every problem at
// once, --set overrides, and the bridge from a recorded reference run's
// args.json. It is pure Go (no cgo, no torch, no model packages), so it
// builds and tests with CGO_ENABLED=0.
//
// # Schema
//
// A recipe is one YAML mapping with seven sections and three top-level
// keys (recipes/README.md documents every field):
//
//	name, description   the run's name (default: the file's base name) and free text
//	reference           true: every bit-level reference behaviour (see Quirks)
//	model               path, init_state, head, dtype, train_dropout
//	task                name, data_dir, few_shot_type, template, mapping, lengths, demos, num_k
//	method              kind (mezo|ft|zero-shot|lp), eps, seed_stream, efficient, trainer_optim, n-SPSA, loss,
//	                    from_linearhead, lp_early_stopping
//	optim               name (sgd|adamw), lr, weight decay, Adam betas and epsilon, schedule,
//	                    warm-up, max_grad_norm, batch_size, accumulation, budgets, seed
//	eval                steps, batch_size, during_training, do_eval, do_predict, logging_steps, objective
//	output              dir, overwrite, save_best, save_final, checkpoint_every
//	runtime             device, threads, interop_threads, z_stream (torch|philox), precision (fp32|bf16|fp16; CUDA only)
//
// Fields hold only strings, booleans, integers and float64s, so a Recipe
// is a plain value: Marshal writes it with every field explicit (the run
// directory's recipe.yaml) and decoding that gives the same Recipe.
//
// # Decoding
//
// Load (a file) and Parse (bytes) decode, apply overrides, fill defaults
// and Validate; Decode stops before Validate. Decoding walks yaml.v3's
// node tree itself, so an unknown or duplicate key, or a value of the
// wrong type, is an error naming the file, line and field path:
//
//	recipes/x.yaml:7: optim.lr: expected a number, got "fast"
//
// An override "PATH=VALUE" (the CLI's --set) replaces the node at a YAML
// path before decoding, so it is type-checked the same way; an unknown
// path is an error naming it. Errors are *FieldError values joined with
// errors.Join; Problems lists them.
//
// # Defaults
//
// defaults.go holds every default: the reference scripts' values
// (run_fewshot.sh, then mezo.sh or finetune.sh by method.kind, then run.py
// and Hugging Face's TrainingArguments), with the few deliberate
// differences marked there. The task's template, mapping and lengths come
// from lmbff's task table (run_fewshot.sh's per-task settings) unless the
// recipe sets them.
//
// # The reference switch
//
// reference: true asks for the reference's bit-level behaviour where it
// differs from what we would do otherwise; Recipe.Quirks resolves it into
// named booleans for the training loop. It also makes method.seed_stream
// default to reference-data, and Validate insists on that stream and on
// the torch z stream.
package recipe
