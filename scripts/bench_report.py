"""Turn the benchmark's hyperfine exports into docs/benchmarks.md and a bar chart.

Usage: python3 scripts/bench_report.py RESULTS_DIR DOCS_DIR

RESULTS_DIR holds the JSON files written by scripts/bench.sh. The chart is
an SVG drawn here, so the report needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path


def load_medians(path: Path) -> dict[str, float]:
    """Return the median time in milliseconds of each named command."""
    if not path.exists():
        return {}
    results = json.loads(path.read_text())["results"]
    return {result["command"]: result["median"] * 1000 for result in results}


def machine_description() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    kernel = platform.release()
    cores = os.cpu_count()
    return f"{cpu}, {cores} cores, {memory_kib / 1048576:.0f} GiB RAM, Linux {kernel}"


def tool_version(command: list[str]) -> str:
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return "not installed"
    return output.strip().splitlines()[0] if output.strip() else "unknown"


def verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "missed"


def build_rows(results: Path) -> tuple[list[tuple[str, str, str, str]], dict[str, float]]:
    """Return the target rows (what, measured, target, verdict) and the chart bars."""
    cached = load_medians(results / "cached.json")
    secret_service = load_medians(results / "secret-service.json")
    gke = load_medians(results / "gke.json")
    refresh = load_medians(results / "refresh.json")
    concurrent = load_medians(results / "concurrent.json")
    concurrent.update(load_medians(results / "concurrent-cached.json"))
    facts = json.loads((results / "facts.json").read_text())

    true_ms = cached["/bin/true"]
    fast = cached["get, keyutils fast path"]
    ss_only = secret_service["get, Secret Service only"]
    lookup = secret_service["secret-tool lookup"]
    floor = refresh["two round trips (curl, floor)"]
    refresh_ms = refresh["get, refresh path"]
    seed = refresh["seed flow: discovery, refresh, exchange (curl)"]
    one = concurrent["one caller, refresh"]
    many = concurrent["64 concurrent callers"]
    size_mb = facts["size_bytes"] / 1_000_000
    rss_mib = facts["rss_kib"] / 1024

    rows = [
        ("cached `get` (keyutils fast path) / `/bin/true`", f"{fast / true_ms:.2f}×", "≤ 1.8×", verdict(fast / true_ms, 1.8)),
        ("minimal Rust binary / `/bin/true`", f"{cached['minimal Rust binary'] / true_ms:.2f}×", "reference", "—"),
        ("cached `get` (file store) / `/bin/true`", f"{cached['get, file store'] / true_ms:.2f}×", "—", "—"),
        ("cached `get` (Secret Service only) / `secret-tool lookup`", f"{ss_only / lookup:.2f}×", "≤ 0.5×", verdict(ss_only / lookup, 0.5)),
        ("refresh requests (discovery requests)", f"{facts['refresh_requests']} ({facts['refresh_discovery']})", "exactly 2 (0)",
         "met" if facts["refresh_requests"] == 2 and facts["refresh_discovery"] == 0 else "missed"),
        ("refresh path / two-round-trip floor (50 ms latency)", f"{refresh_ms / floor:.2f}×", "≤ 1.2×", verdict(refresh_ms / floor, 1.2)),
        ("refresh path / seed flow of EDB's get-token (3 requests)", f"{refresh_ms / seed:.2f}×", "—", "—"),
        ("64 concurrent callers / one refresh", f"{many / one:.2f}×", "≤ 1.5×", verdict(many / one, 1.5)),
        ("64 concurrent callers on a valid token (process starts alone)",
         f"{concurrent['64 concurrent callers, token valid']:.0f} ms", "—", "—"),
        ("refreshes and reuse detections at 64 callers", f"{facts['concurrent_refreshes']} and {facts['concurrent_reuse']}", "1 and 0",
         "met" if facts["concurrent_refreshes"] == 1 and facts["concurrent_reuse"] == 0 else "missed"),
        ("stripped binary size", f"{size_mb:.2f} MB", "≤ 5 MB", verdict(size_mb, 5)),
        ("peak RSS of a cached `get` (keyutils fast path)", f"{rss_mib:.1f} MiB", "≤ 8 MiB", verdict(rss_mib, 8)),
        ("peak RSS of a cached `get` (file store) / of `/bin/true`",
         f"{facts['rss_file_kib'] / 1024:.1f} MiB / {facts['rss_true_kib'] / 1024:.1f} MiB", "—", "—"),
    ]
    if gke:
        plugin = gke["gke-gcloud-auth-plugin, cached"]
        ours = gke["get, keyutils fast path"]
        rows.insert(4, ("cached `get` / `gke-gcloud-auth-plugin` cached", f"{ours / plugin:.2f}×", "—", "—"))

    bars = dict(cached)
    bars["get, Secret Service only"] = ss_only
    if gke:
        bars["gke-gcloud-auth-plugin, cached"] = gke["gke-gcloud-auth-plugin, cached"]
    return rows, bars, {"refresh": refresh, "concurrent": concurrent}


def svg_chart(bars: dict[str, float]) -> str:
    """Draw a horizontal bar chart of median milliseconds."""
    ordered = sorted(bars.items(), key=lambda item: item[1])
    width, label_width, bar_height, gap = 760, 300, 22, 8
    height = 40 + len(ordered) * (bar_height + gap)
    longest = max(value for _, value in ordered)
    scale = (width - label_width - 90) / longest
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
        f'<text x="10" y="20" font-weight="bold">Cached path, median wall time per call (ms)</text>',
    ]
    for index, (name, value) in enumerate(ordered):
        y = 35 + index * (bar_height + gap)
        colour = "#2f6fb0" if name.startswith("get") else "#9aa5b1"
        parts.append(f'<text x="10" y="{y + 16}">{name}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{value * scale:.1f}" height="{bar_height}" fill="{colour}"/>')
        parts.append(f'<text x="{label_width + value * scale + 6:.1f}" y="{y + 16}">{value:.2f}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def markdown(rows, bars, other, results: Path) -> str:
    facts = json.loads((results / "facts.json").read_text())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (scripts/bench.sh and scripts/bench_report.py); do not edit by hand.",
        "Every figure comes from one run on one machine, so compare the ratios, not the absolute times.",
        "Times are hyperfine medians.",
        "",
        "## Results",
        "",
        "| measure | measured | target | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {what} | {value} | {target} | {state} |" for what, value, target, state in rows]
    lines += ["", "![cached path chart](benchmarks.svg)", "", "## Median times", "", "| command | median (ms) |", "|---|---|"]
    for name, value in sorted(bars.items(), key=lambda item: item[1]):
        lines.append(f"| {name} | {value:.2f} |")
    for group in ("refresh", "concurrent"):
        for name, value in other[group].items():
            lines.append(f"| {name} | {value:.1f} |")
    lines += [
        "",
        "## Machine",
        "",
        f"- {machine_description()}",
        f"- measured {now}, {facts['runs']} runs per cached-path command",
        f"- {tool_version(['hyperfine', '--version'])}, {tool_version(['rustc', '--version'])}",
        f"- `gke-gcloud-auth-plugin` {tool_version(['gke-gcloud-auth-plugin', '--version'])}",
        "",
        "## What each measure is",
        "",
        "- **cached `get`**: the stored token is valid, so the helper prints it: no network, no lock, no",
        "  subprocess. The keyutils fast path reads the token's copy in the kernel keyring; \"Secret",
        "  Service only\" sets `BIGANIMAL_KEYUTILS_CACHE=off` and reads gnome-keyring over D-Bus;",
        "  `secret-tool lookup` reads one item from the same gnome-keyring.",
        "- **gke-gcloud-auth-plugin**: its own cached path, fed a cache file with a future expiry under a",
        "  temporary `HOME`.",
        "- **refresh path**: `get --min-ttl 48h` against the emulator with 50 ms latency per request, so",
        "  every call refreshes (refresh-token grant, then exchange). The floor is curl making two",
        "  requests; the seed flow is EDB's get-token refresh sequence (discovery, refresh, exchange)",
        "  reproduced with curl in scripts/bench-seed-flow.sh.",
        "- **64 concurrent callers**: 64 `get` started at once while the stored token has 60 s left",
        "  (inside the 5-minute margin), against one `get` from the same state. One process",
        "  refreshes; the others wait for its lock and take the new token from the kernel-keyring",
        "  copy, so they do not open the Secret Service.",
        "- **size and memory**: the release binary (stripped by the release profile) and the peak RSS",
        "  from `/usr/bin/time -f %M`.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench            # needs hyperfine, gnome-keyring, dbus, libsecret-tools (see .ci/run)",
        "BENCH_RUNS=1000 make bench",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    results, docs = Path(sys.argv[1]), Path(sys.argv[2])
    rows, bars, other = build_rows(results)
    (docs / "benchmarks.svg").write_text(svg_chart(bars))
    (docs / "benchmarks.md").write_text(markdown(rows, bars, other, results))


if __name__ == "__main__":
    main()
