#!/usr/bin/env bash
# Shows the main job against the local BigAnimal emulator: a first `get`
# that logs in (approved automatically by the emulator), a second `get`
# served from the store, and a refresh once the token is inside the
# renewal margin. Tokens are shortened in the output.
#
# Everything stays on 127.0.0.1. Credentials go to a temporary file store,
# so the demo never touches your keychain or your real BigAnimal login.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary="${CARGO_TARGET_DIR:-$root/target}/debug/biganimal-credential"
work=$(mktemp -d)
emulator_pid=""

cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Replaces each JWT with its first and last six characters.
shorten() {
    sed -E 's/(eyJ[A-Za-z0-9_-]{6})[A-Za-z0-9_.-]{20,}([A-Za-z0-9_-]{6})/\1…\2/g'
}

# Runs the helper, then prints its stderr and its stdout (shortened), prefixed.
run() {
    echo "   \$ biganimal-credential $*"
    local status=0
    "$binary" "$@" >"$work/stdout" 2>"$work/stderr" || status=$?
    sed 's/^/   stderr| /' "$work/stderr"
    shorten <"$work/stdout" | sed 's/^/   stdout| /'
    [ -s "$work/stdout" ] && [ "$(tail -c 1 "$work/stdout")" != "" ] && echo
    return "$status"
}

step() {
    if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
        printf '\n\033[1m== %s\033[0m\n' "$1"
    else
        printf '\n== %s\n' "$1"
    fi
}

stats() {
    curl -fsS "$url/_emulator/stats" | python3 -c '
import json, sys
counts = json.load(sys.stdin)
shown = ["provider", "device_code", "token_device", "token_refresh", "exchange"]
shown.append("total")
print("   emulator requests so far: " + ", ".join(f"{name}={counts[name]}" for name in shown))'
}

step "Build (the first build compiles the dependencies and takes a few minutes)"
(cd "$root" && cargo build --locked)

step "Start the BigAnimal emulator on a free loopback port"
# Portal tokens live 10 minutes; a 15-minute margin later forces a refresh.
python3 "$root/emulator/biganimal_emulator.py" --port 0 --auto-approve --interval 1 \
    --portal-token-ttl 600 >"$work/emulator.url" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emulator.url" ] && break
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        echo "the emulator failed to start:" >&2
        cat "$work/emulator.log" >&2
        exit 1
    fi
    sleep 0.1
done
url=$(head -n 1 "$work/emulator.url")
[ -n "$url" ] || { echo "the emulator did not print its URL within 10 s" >&2; exit 1; }
echo "   $url"

export BA_API_URI="$url/api/v3"
export BIGANIMAL_CREDENTIAL_DIR="$work/state"
export BIGANIMAL_CREDENTIAL_STORE=file

step "1. First get: nothing stored, so a device login runs (the emulator approves it)"
run get --login always
stats

step "2. Second get: served from the store, no request"
run get
stats

step "3. Get with a 15-minute margin: the 10-minute token is renewed (refresh + exchange)"
run get --min-ttl 15m -v
stats

step "4. Status"
run status

step "Done; the emulator stops and the temporary store is deleted"
