package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/cgo/torch"
)

// setThreads applies the global --threads and --interop-threads flags
// before any command runs (libtorch's thread pools are process-wide).
// Without --threads, libtorch gets one intra-op thread per CPU this process
// may run on (its affinity mask, as runtime.NumCPU reads it): Debian's
// libtorch would otherwise start with one.
func setThreads(c *cli.Context) error {
	if c.IsSet("interop-threads") {
		if err := torch.SetNumInteropThreads(c.Int("interop-threads")); err != nil {
			return fmt.Errorf("--interop-threads: %w", err)
		}
	}
	n := runtime.NumCPU()
	if c.IsSet("threads") {
		n = c.Int("threads")
	}
	if err := torch.SetNumThreads(n); err != nil {
		return fmt.Errorf("--threads: %w", err)
	}
	return nil
}
