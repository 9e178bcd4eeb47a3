package nn

import (
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
)

var hfToTorch = map[hf.DType]torch.DType{
	"F32": torch.Float32, "F64": torch.Float64, "F16": torch.Float16, "BF16": torch.BFloat16,
	"I64": torch.Int64, "I32": torch.Int32, "I16": torch.Int16, "I8": torch.Int8,
	"U8": torch.Uint8, "BOOL": torch.Bool,
}

// TorchDType maps a checkpoint dtype to libtorch's.
func TorchDType(d hf.DType) (torch.DType, error) {
	if t, ok := hfToTorch[d]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("nn: checkpoint dtype %s has no libtorch equivalent here", d)
}

// HFDType maps a libtorch dtype to the checkpoint name.
func HFDType(d torch.DType) (hf.DType, error) {
	for k, v := range hfToTorch {
		if v == d {
			return k, nil
		}
	}
	return "", fmt.Errorf("nn: dtype %v cannot be saved", d)
}

// FromHF makes a libtorch tensor on dev with dtype (converting from the
// checkpoint's) from a checkpoint tensor. The caller owns the result.
func FromHF(t *hf.Tensor, dtype torch.DType, dev torch.Device) (*torch.Tensor, error) {
	src, err := TorchDType(t.DType)
	if err != nil {
		return nil, err
	}
	if src == dtype {
		return torch.FromBytes(t.Data, src, t.Shape, dev)
	}
	tmp, err := torch.FromBytes(t.Data, src, t.Shape, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer tmp.Close()
	return tmp.To(dtype, dev)
}

// ToHF copies a libtorch tensor to host memory as a checkpoint tensor.
func ToHF(t *torch.Tensor) (*hf.Tensor, error) {
	dt, err := t.DType()
	if err != nil {
		return nil, err
	}
	hd, err := HFDType(dt)
	if err != nil {
		return nil, err
	}
	shape, err := t.Shape()
	if err != nil {
		return nil, err
	}
	data, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	return &hf.Tensor{DType: hd, Shape: shape, Data: data}, nil
}

// StateDict copies every parameter of ps (in order) into a checkpoint state
// dict, for saving with hf.WriteSafetensors.
func (ps *ParamSet) StateDict() (*hf.StateDict, error) {
	sd := &hf.StateDict{Tensors: map[string]*hf.Tensor{}}
	for _, p := range ps.params {
		t, err := ToHF(p.T)
		if err != nil {
			return nil, fmt.Errorf("nn: %s: %w", p.Name, err)
		}
		sd.Names = append(sd.Names, p.Name)
		sd.Tensors[p.Name] = t
	}
	return sd, nil
}
