#!/usr/bin/env bash
# Runs the benchmarks and writes their output under bench/results/ (one file per run, named by date
# and host; the memory samples beside it as JSON). BENCHMARKS.md summarises the figures.
# Takes about 15 minutes: the memory check replays for MEMORY_MINUTES (default 10) of wall clock; the
# backtest benchmark and the detection report (issue 7) add about 30 more (2 cores), and need the real
# data under /work/shared/data/oct10_2025/ (not in the repository: skipped when missing) and the
# hftbacktest venv .venv/hbt (`make bench` creates it from bench/requirements-hbt.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=bench/results
mkdir -p "$out_dir"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out="$out_dir/$stamp-$(hostname -s).txt"
{
  echo "# flashcrash benchmarks, $stamp"
  echo "# machine: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "# cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "# rustc: $(rustc --version)"
  echo
  echo "## book update throughput (criterion, one core)"
  (cd rust-engine && cargo bench --locked -p feed-handler --bench book -- --warm-up-time 2 --measurement-time 5 2>&1) \
    | grep -E '^(book|sync)/|time:|thrpt:'
  echo
  echo "## feed-path latency (venue frame -> engine ZeroMQ publish, received by a subscriber)"
  (cd rust-engine && cargo bench --locked -q -p engine --bench feed_path 2>&1) | grep -E '^(feed|    book split)'
  echo
  echo "## order round trip (PlaceOrder sent by Python -> OrderPlaced received by Python)"
  .venv/bin/python bench/order_roundtrip.py --orders "${ROUNDTRIP_ORDERS:-1000}" \
    --out "$out_dir/$stamp-order_roundtrip.json" | sed -n '/^mode/,$p'
  echo
  echo "## strategy: per-event cost; the strategy process (flashcrash run) fed 10 s at 50,000 and 100,000 msg/s"
  echo "## over ZeroMQ; its tick-to-decision latency at 2,000 msg/s (issue 5)"
  .venv/bin/python bench/strategy_bench.py --out "$out_dir/$stamp-strategy.json"
  echo
  echo "## memory over a ${MEMORY_MINUTES:-10}-minute replay (exchange-sim, engine, strategy)"
  .venv/bin/python bench/memory_check.py --minutes "${MEMORY_MINUTES:-10}" --every 10 \
    --out "$out_dir/$stamp-memory.json" | sed -n '/^memory over/,$p'
  echo
  echo "## backtest throughput: a real day, the day x10; hftbacktest's do-nothing replay of the same trades and books, and of the trades alone (issue 7)"
  .venv/bin/python bench/backtest_bench.py --out "$out_dir/$stamp-$(hostname -s)-backtest.txt" \
    || echo "(backtest benchmark skipped: exit $?)"
  echo
  echo "## detection on the 10 Oct 2025 crash files (issue 7)"
  .venv/bin/python bench/detection_report.py --out "$out_dir/$stamp-$(hostname -s)-detection.txt" \
    || echo "(detection report skipped: exit $?)"
} | tee "$out"
echo "results written to $out"
