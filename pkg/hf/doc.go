// Package hf reads and writes Hugging Face model directories as raw host
// tensors, in pure Go (it builds with CGO_ENABLED=0 and knows nothing of
// libtorch). A model loader turns these raw tensors into libtorch tensors.
//
// # Tensors
//
// A Tensor is DType + Shape + Data: Data is contiguous, row-major (C order)
// and little-endian, NumElements()·DType.Size() bytes. DType uses the
// safetensors spellings (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL,
// U16, U32, U64). Linear weights keep Hugging Face's [out, in] layout; no
// tensor is transposed or converted on reading.
//
// Ownership: every Tensor this package returns owns its Data; no two share
// a backing array. Tied weights that share one storage in a .bin file
// (RobertaForMaskedLM's lm_head.decoder.weight and the word embeddings)
// come back as separate, equal copies; TorchBinFile.SameStorage reports the
// tie. A loader may copy Data into libtorch and drop the Tensor, or read
// straight into memory it owns with Checkpoint.ReadInto.
//
// # Files
//
//   - safetensors: ReadSafetensors / OpenSafetensors read (each tensor one
//     ReadAt into its own buffer: one copy), WriteSafetensors writes
//     atomically in the official library's byte layout.
//   - torch.save (pytorch_model.bin): ReadTorchBin / OpenTorchBin read the
//     zip format and the legacy pickle stream, materialising strided and
//     stride-0 (expanded) views as contiguous tensors.
//   - config.json: ReadConfig, with transformers 4.28's RoBERTa and OPT
//     defaults for absent keys and the rest of the file in Config.Raw.
//   - directories: OpenModelDir finds config.json and model.safetensors or
//     pytorch_model.bin (sharded checkpoints with *.index.json too);
//     ModelDir.Open gives a lazy Checkpoint, ModelDir.Load a StateDict.
//   - the hub cache: ResolveModel maps "roberta-large" or
//     "FacebookAI/roberta-large" to a snapshot directory of the local
//     Hugging Face cache. Nothing is ever downloaded.
//
// # Checking keys
//
// Expect lists the tensors a model needs (dtype and shape, optional ones,
// ignored extras); Expect.Check and Expect.CheckCheckpoint return a
// *KeyError naming every missing, unexpected and mismatched tensor at once.
// StateDict.FillTied fills absent tied keys (RobertaTied, OPTTied) from
// their source, as MEZO_SPEC §12.3 asks for a missing
// lm_head.decoder.weight; NormalizeRobertaKeys and ReplacePrefix rename keys.
//
// Errors name the file (and key) at fault. Nothing here panics on bad
// input: gopickle panics are recovered into errors. Types are not safe for
// concurrent use.
package hf
