package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gomezo/gomezo/cgo/torch"
)

// setThreads applies the global --threads and --interop-threads flags
// before any command runs (libtorch's thread pools are process-wide).
func setThreads(c *cli.Context) error {
	if c.IsSet("interop-threads") {
		if err := torch.SetNumInteropThreads(c.Int("interop-threads")); err != nil {
			return fmt.Errorf("--interop-threads: %w", err)
		}
	}
	if c.IsSet("threads") {
		if err := torch.SetNumThreads(c.Int("threads")); err != nil {
			return fmt.Errorf("--threads: %w", err)
		}
	}
	return nil
}
