package nn

import (
	"strings"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
)

func newSet(t *testing.T, names ...string) *ParamSet {
	t.Helper()
	ps := NewParamSet()
	for i, n := range names {
		x, err := torch.Full([]int64{int64(i + 1)}, float64(i), torch.Float32, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.Add(n, x); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

func trainableNames(ps *ParamSet) string {
	var s []string
	for _, p := range ps.Trainable() {
		s = append(s, p.Name)
	}
	return strings.Join(s, ",")
}

func TestFreezeTrainOnly(t *testing.T) {
	ps := newSet(t, "roberta.a.weight", "roberta.a.lora_A", "lm_head.bias", "classifier.weight")
	defer ps.Close()
	if got := strings.Join(ps.Names(), ","); got != "roberta.a.weight,roberta.a.lora_A,lm_head.bias,classifier.weight" {
		t.Fatalf("order %s", got)
	}
	n, err := ps.TrainOnly("lora", "^lm_head")
	if err != nil || n != 2 {
		t.Fatalf("TrainOnly: %d %v", n, err)
	}
	if got := trainableNames(ps); got != "roberta.a.lora_A,lm_head.bias" {
		t.Fatalf("trainable %s", got)
	}
	if _, err := ps.Unfreeze("classifier"); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Freeze("lm_head"); err != nil {
		t.Fatal(err)
	}
	if got := trainableNames(ps); got != "roberta.a.lora_A,classifier.weight" {
		t.Fatalf("trainable %s", got)
	}
	all, tr, err := ps.Numel()
	if err != nil || all != 1+2+3+4 || tr != 2+4 {
		t.Fatalf("numel %d %d %v", all, tr, err)
	}
	pl, err := ps.TrainableList()
	if err != nil || pl.Len() != 2 {
		t.Fatalf("list %v", err)
	}
	pl.Close()
}

func TestPatternErrors(t *testing.T) {
	ps := newSet(t, "a.weight")
	defer ps.Close()
	if _, err := ps.Freeze("lm_haed"); err == nil || !strings.Contains(err.Error(), "lm_haed") {
		t.Fatalf("a pattern matching nothing was accepted: %v", err)
	}
	if _, err := ps.TrainOnly("("); err == nil {
		t.Fatal("a bad regular expression was accepted")
	}
	if len(ps.Trainable()) != 1 {
		t.Fatal("a failed call changed the flags")
	}
	x, _ := torch.Zeros([]int64{1}, torch.Float32, torch.CPU)
	defer x.Close()
	if err := ps.Add("a.weight", x); err == nil {
		t.Fatal("duplicate name accepted")
	}
}

func TestStateDictRoundTrip(t *testing.T) {
	ps := newSet(t, "x", "y")
	defer ps.Close()
	sd, err := ps.StateDict()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sd.Names, ",") != "x,y" || sd.Tensors["y"].DType != "F32" || len(sd.Tensors["y"].Data) != 8 {
		t.Fatalf("state dict %v", sd.Names)
	}
	back, err := FromHF(sd.Tensors["y"], torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	v, _ := back.Float64s()
	if len(v) != 2 || v[0] != 1 || v[1] != 1 {
		t.Fatalf("converted %v", v)
	}
}
