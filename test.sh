#!/usr/bin/env bash
# test.sh: the test suite. Builds the shim and mezo, runs every Go test, then
# fuzzes every parser of user files (Fuzz* targets) for a bounded time each.
# Environment: FUZZTIME (per target: a count of inputs like 20000x, the
# default, or a duration like 30s; 0 skips fuzzing). A count bounds the work
# without racing go test's deadline, which a duration can hit on a busy
# machine ("context deadline exceeded" at the end of a clean run).
set -euo pipefail
cd "$(dirname "$0")"
FUZZTIME=${FUZZTIME:-20000x}

./build.sh
# The default 10-minute deadline per package is too tight for cmd/mezo (child-process runs) on a
# loaded 2-core machine.
go test -count=1 -timeout 30m ./...

if [ "$FUZZTIME" = 0 ]; then
  echo "test.sh: fuzzing skipped (FUZZTIME=0)"
  exit 0
fi
# go test -fuzz takes one target of one package per run.
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  dir=$(dirname "$f")
  for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
    echo "test.sh: fuzzing $name in $dir for $FUZZTIME"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
  done
done
