package recipe_test

import (
	"fmt"

	"github.com/gomezo/gomezo/pkg/recipe"
)

func ExampleParse() {
	src := []byte(`
method:
  kind: mezo
task:
  name: SST-2
optim:
  lr: 1e-6
`)
	r, err := recipe.Parse("quick.yaml", src, "model.path=roberta-large", "task.data_dir=data/k-shot-1k-test/SST-2/16-42", "optim.lr=1e-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Name, r.Method.Kind, r.Optim.LR, r.Optim.BatchSize, r.Method.Eps, r.Task.Template)
	fmt.Printf("%+v\n", r.Quirks())

	_, err = recipe.Parse("quick.yaml", append(src, "  batch_size: many\n"...))
	fmt.Println(err)
	// Output:
	// quick mezo 1e-07 64 0.001 *cls**sent_0*_It_was*mask*.*sep+*
	// {RestorePass:false StopPastBudget:false TrainUnusedHeads:false InconsistentVariants:false AccumulationWindows:false}
	// quick.yaml:8: optim.batch_size: expected an integer, got "many"
}
