package torch

import (
	"runtime"
	"sync"
	"testing"
)

// TestGradModeSurvivesThreadMigration runs grad and no-grad scopes from many
// goroutines at once, each hopping between OS threads (runtime.Gosched and
// the cgo calls themselves let the scheduler move them). Every result must
// carry the mode of its own scope: the shim applies the mode per call and
// leaves no thread-local state behind.
func TestGradModeSurvivesThreadMigration(t *testing.T) {
	w, err := Ones([]int64{8}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				mode := []Mode{NoGrad, Grad, Inference}[(g+i)%3]
				s := NewScope(mode)
				y := s.Sum(s.MulScalar(w, 2))
				if s.Err() != nil {
					errs <- s.Err().Error()
					s.Close()
					return
				}
				rg, err := y.RequiresGrad()
				if err != nil {
					errs <- err.Error()
				}
				if rg != (mode == Grad) {
					errs <- "a result's requires_grad does not match its scope's mode"
				}
				s.Close()
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
