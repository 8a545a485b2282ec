#!/usr/bin/env bash
# Runs the benchmarks and writes their output under bench/results/ (one file per run, named by date
# and host). BENCHMARKS.md summarises the figures.
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
} | tee "$out"
echo "results written to $out"
