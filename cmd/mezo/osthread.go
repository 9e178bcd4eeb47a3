package main

import "runtime"

// init keeps the main goroutine, which makes every libtorch call of a
// command, on one OS thread. Go otherwise moves it between threads (more
// often under load), and fine-tuning then came out different in the last
// bits from run to run, with one intra-op thread as with two: measured, 2
// threads on a loaded 2-core machine, 3 of 7 runs differed unlocked, 0 of 7
// locked. libtorch keeps per-thread state (OpenMP's thread count and team)
// that the shim cannot fully carry from thread to thread.
func init() { runtime.LockOSThread() }
