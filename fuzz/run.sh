#!/usr/bin/env bash
# Run one fuzz target, or all of them in turn, for a fixed time each.
#
# Usage: fuzz/run.sh TARGET|all SECONDS
#
# Each target reads its committed seeds from fuzz/seeds/TARGET and keeps
# what it finds in fuzz/corpus/TARGET (not committed), so a later run goes
# on from there. A crashing input is saved under fuzz/artifacts/TARGET, and
# the run stops with a non-zero status. With `all`, the other targets still
# run, and the status is non-zero if any target failed.
#
# The build uses no sanitizer by default: the targets and the code they
# reach are safe Rust, and `-Zsanitizer` would need a nightly compiler.
# FUZZ_SANITIZER=address builds with AddressSanitizer on the stable
# compiler through RUSTC_BOOTSTRAP=1. Debug assertions are on, so integer
# overflow panics and counts as a crash.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

targets=(exec_info http_reply jwt record config_values git_credential docker_helper)

if [[ $# -ne 2 || ! $2 =~ ^[0-9]+$ ]]; then
    echo "usage: fuzz/run.sh TARGET|all SECONDS (targets: ${targets[*]})" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is not installed; install it with \`cargo install cargo-fuzz --locked\`" >&2
    exit 2
fi

if [[ $1 == all ]]; then
    selected=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $1 "* ]]; then
    selected=("$1")
else
    echo "fuzz/run.sh: unknown target \`$1\`; use one of: ${targets[*]}, or all" >&2
    exit 2
fi

seconds=$2
sanitizer=${FUZZ_SANITIZER:-none}
if [[ $sanitizer != none ]]; then
    export RUSTC_BOOTSTRAP=1
fi

failed=()
for target in "${selected[@]}"; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s (sanitizer: $sanitizer)"
    if ! cargo fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -dict="dict/$target.dict" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
