#!/usr/bin/env bash
# Measures the helper with hyperfine in one run and writes
# docs/benchmarks.md and docs/benchmarks.svg. Run it through `make bench`,
# which starts a private D-Bus session with a fresh gnome-keyring.
#
# Everything talks to the emulator on 127.0.0.1. Results depend on the
# machine; the report records the machine and compares ratios measured in
# the same run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# `make bench` builds the release binary and passes its path.
binary=$(realpath "${BENCH_BINARY:?run this through make bench, which sets BENCH_BINARY}")
work=$(mktemp -d)
results="$work/results"
mkdir -p "$results"
emulator_pid=""
runs="${BENCH_RUNS:-300}"

cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'bench: %s\n' "$*" >&2; }

command -v hyperfine >/dev/null || { say "hyperfine is missing: apt-get install hyperfine"; exit 1; }
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || { say "no D-Bus session: run this through 'make bench'"; exit 1; }

say "building a minimal Rust binary with the same profile settings"
printf 'fn main() {}\n' >"$work/minimal.rs"
rustc -O -C panic=abort -C strip=symbols -C codegen-units=1 -o "$work/minimal" "$work/minimal.rs"

say "starting the emulator"
python3 "$root/emulator/biganimal_emulator.py" --port 0 --auto-approve --interval 0.1 \
    >"$work/emulator.url" 2>/dev/null &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$work/emulator.url" ] && break; sleep 0.1; done
url=$(head -n 1 "$work/emulator.url")
[ -n "$url" ] || { say "the emulator did not start"; exit 1; }

control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "${2:-{\}}" "$url/_emulator/$1" >/dev/null; }
counter() { curl -fsS "$url/_emulator/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

export BA_API_URI="$url/api/v3"
export BIGANIMAL_CREDENTIAL_DIR="$work/state"

# One login per store; each store keeps its own copy of the login.
for store in keychain file; do
    BIGANIMAL_CREDENTIAL_STORE=$store "$binary" get --login always >/dev/null 2>"$work/login.log" || { cat "$work/login.log" >&2; exit 1; }
done
# The login above filled the keyutils copy; check it is used.
BIGANIMAL_CREDENTIAL_STORE=keychain "$binary" get >/dev/null

secret-tool store --label=bench service bench-lookup username bench <<<"bench-value"

say "measuring the cached path"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$results/cached.json" \
    -n "/bin/true" "/bin/true" \
    -n "minimal Rust binary" "$work/minimal" \
    -n "get, keyutils fast path" "$binary get --store keychain" \
    -n "get, file store" "$binary get --store file" \
    -n "secret-tool lookup" "secret-tool lookup service bench-lookup username bench" \
    >"$results/cached.txt" 2>&1

say "measuring the cached path with the Secret Service only"
BIGANIMAL_KEYUTILS_CACHE=off hyperfine -N --warmup 30 --runs "$runs" --export-json "$results/secret-service.json" \
    -n "get, Secret Service only" "$binary get --store keychain" \
    -n "secret-tool lookup" "secret-tool lookup service bench-lookup username bench" \
    >"$results/secret-service.txt" 2>&1

say "measuring gke-gcloud-auth-plugin on its cached path"
gke_home="$work/gke-home"
mkdir -p "$gke_home/.kube"
cat >"$gke_home/.kube/config" <<'KUBECONFIG'
apiVersion: v1
kind: Config
current-context: bench
contexts:
- name: bench
  context: {cluster: bench, user: bench}
clusters:
- name: bench
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: bench
  user: {token: unused}
KUBECONFIG
expiry=$(date -u -d "+1 hour" +%Y-%m-%dT%H:%M:%SZ)
printf '{"current_context":"bench","access_token":"bench-token","token_expiry":"%s"}\n' "$expiry" \
    >"$gke_home/.kube/gke_gcloud_auth_plugin_cache"
gke_plugin=$(command -v gke-gcloud-auth-plugin || true)
if [ -n "$gke_plugin" ]; then
    HOME="$gke_home" "$gke_plugin" | grep -q bench-token || { say "gke-gcloud-auth-plugin did not use its cache"; exit 1; }
    HOME="$gke_home" hyperfine -N --warmup 30 --runs "$runs" --export-json "$results/gke.json" \
        -n "gke-gcloud-auth-plugin, cached" "$gke_plugin" \
        -n "get, keyutils fast path" "$binary get --store keychain" \
        >"$results/gke.txt" 2>&1
fi

say "measuring the refresh path with 50 ms latency per request"
control config '{"latency_ms": 50}'
export BIGANIMAL_CREDENTIAL_STORE=file
control reset
"$binary" get --min-ttl 48h >/dev/null
refresh_requests=$(counter total)
refresh_discovery=$(counter provider)
seed_state="$work/seed-refresh-token"
# A second login for the seed script, so the two flows rotate separate tokens.
seed_dir="$work/seed-login"
BIGANIMAL_CREDENTIAL_DIR="$seed_dir" "$binary" get --login always >/dev/null 2>&1
python3 - "$seed_dir" >"$seed_state" <<'PY'
import json, pathlib, sys
for path in (pathlib.Path(sys.argv[1]) / "state" / "store").glob("*.json"):
    entry = json.loads(path.read_text())
    if entry["key"].endswith("/refresh"):
        print(json.loads(entry["value"])["refresh_token"])
PY
control reset
bash "$root/scripts/bench-seed-flow.sh" "$url/api/v3" "$seed_state" >/dev/null
seed_requests=$(counter total)
hyperfine -N --warmup 2 --runs 40 --export-json "$results/refresh.json" \
    -n "two round trips (curl, floor)" "curl -fsS -o /dev/null $url/api/v3/auth/provider -o /dev/null $url/api/v3/auth/provider" \
    -n "get, refresh path" "$binary get --min-ttl 48h" \
    -n "seed flow: discovery, refresh, exchange (curl)" "bash $root/scripts/bench-seed-flow.sh $url/api/v3 $seed_state" \
    >"$results/refresh.txt" 2>&1

say "measuring 64 concurrent callers on an expiring token"
control config '{"latency_ms": 50, "portal_token_ttl": 3600}'
# Each run starts from a stored token with 60 s left, inside the 5-minute margin.
prepare="curl -fsS -X POST -H 'Content-Type: application/json' -d '{\"portal_token_ttl\": 60}' $url/_emulator/config >/dev/null && $binary get --min-ttl 48h >/dev/null && curl -fsS -X POST -H 'Content-Type: application/json' -d '{\"portal_token_ttl\": 3600}' $url/_emulator/config >/dev/null"
control reset
bash -c "$prepare"
control reset
bash "$root/scripts/bench-concurrent.sh" "$binary" 64
concurrent_refreshes=$(counter token_refresh)
concurrent_reuse=$(counter reuse_detections)
hyperfine --warmup 1 --runs 15 --prepare "$prepare" --export-json "$results/concurrent.json" \
    -n "one caller, refresh" "$binary get" \
    -n "64 concurrent callers" "bash $root/scripts/bench-concurrent.sh $binary 64" \
    >"$results/concurrent.txt" 2>&1
say "measuring 64 concurrent callers on a valid token (the cost of 64 process starts)"
hyperfine --warmup 1 --runs 15 --export-json "$results/concurrent-cached.json" \
    -n "64 concurrent callers, token valid" "bash $root/scripts/bench-concurrent.sh $binary 64" \
    >"$results/concurrent-cached.txt" 2>&1
control config '{"latency_ms": 0}'

say "measuring size and memory"
size_bytes=$(stat -c %s "$binary")
rss_kib=$(/usr/bin/time -f '%M' "$binary" get --store keychain 2>&1 >/dev/null | tail -n 1)
rss_file_kib=$(/usr/bin/time -f '%M' "$binary" get --store file 2>&1 >/dev/null | tail -n 1)
rss_true_kib=$(/usr/bin/time -f '%M' /bin/true 2>&1 | tail -n 1)

cat >"$results/facts.json" <<JSON
{
  "refresh_requests": $refresh_requests,
  "refresh_discovery": $refresh_discovery,
  "seed_requests": $seed_requests,
  "concurrent_refreshes": $concurrent_refreshes,
  "concurrent_reuse": $concurrent_reuse,
  "size_bytes": $size_bytes,
  "rss_kib": $rss_kib,
  "rss_file_kib": $rss_file_kib,
  "rss_true_kib": $rss_true_kib,
  "runs": $runs
}
JSON

say "writing docs/benchmarks.md and docs/benchmarks.svg"
python3 "$root/scripts/bench_report.py" "$results" "$root/docs"
cat "$root/docs/benchmarks.md" | sed -n '/^## Results/,/^## Machine/p' >&2
