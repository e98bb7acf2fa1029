#!/usr/bin/env bash
# Starts COUNT `get` calls at once and waits for all of them; fails if any fails.
# Usage: bench-concurrent.sh BINARY COUNT
set -euo pipefail
binary=$1
count=$2
pids=()
for _ in $(seq "$count"); do
    "$binary" get >/dev/null 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit "$status"
