package train

import (
	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// zStream is the parameter list's z generator for a recipe's
// runtime.z_stream: philox (the default outside reference mode) or torch
// (reference mode, and an unset field).
func zStream(z recipe.ZStream) torch.ZStream {
	if z == recipe.ZPhilox {
		return torch.ZPhilox
	}
	return torch.ZTorch
}

// precision maps runtime.precision to the objective's autocast dtype (0:
// fp32).
func precision(p recipe.Precision) torch.DType {
	switch p {
	case recipe.BF16:
		return torch.BFloat16
	case recipe.FP16:
		return torch.Float16
	}
	return 0
}
