#!/usr/bin/env bash
# Runs arbor's benchmark harness (both tokio runtimes, depths 10,14,17,19, 200 restart reps, the
# idle tree and the bare-tokio floor), the Erlang/OTP anchor beside it if one is given, and the
# start-up plot. One command to re-run everything after a change to the core:
#
#   scripts/bench.sh                       # arbor only
#   ARBOR_ERLANG_ANCHOR=/path/to/erlang/run.sh scripts/bench.sh   # and Erlang/OTP, same machine
#   scripts/bench.sh --depths 10,14 --reps 50 --idle-secs 2       # options go to arbor-bench
#   ARBOR_BENCH_RUNS=3 scripts/bench.sh    # the harness three times over (the anchor once)
#   ARBOR_STORM=0 scripts/bench.sh         # without the restart storm (on by default)
#   ARBOR_BENCH_FEATURES=mimalloc scripts/bench.sh   # the harness built with mimalloc as its
#                                          # global allocator (arbor and the floors alike)
#
# The restart storm (arbor-bench --tests storm, sizes ARBOR_STORM_SIZES, default
# "100,1000,10000,100000") runs once after the harness; with ARBOR_ERLANG_ANCHOR set, Erlang/OTP's
# storm (scripts/storm-erlang.sh, sizes ERLANG_STORM_SIZES, default "100 1000 10000": OTP's
# supervisor takes minutes at 100,000) runs beside it, and the plot gets docs/benchmarks-storm.png.
#
# Writes $CARGO_TARGET_DIR/bench/results.txt (default target/bench/), table.md beside it, and
# docs/benchmarks-startup.png. The Erlang anchor is any script that prints the anchors'
# `RESULT name=value unit` lines and honours DEPTHS (ERLANG_DEPTHS here, default "10 14 17 19");
# it needs Debian's erlang-base. Close other heavy work first: the machine has 2 cores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
out=$target/bench
mkdir -p "$out"
results=$out/results.txt
args=("$@")
((${#args[@]})) || args=(--floor)

features=${ARBOR_BENCH_FEATURES:-}
cargo build --release -q -p arbor-bench --bins ${features:+--features "$features"}

{
  echo "# arbor bench $(date -u +%FT%TZ) commit=${ARBOR_BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo none)}"
  echo "# machine: nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    "mem=$(awk '/MemTotal/ {printf "%.0fGiB", $2/1048576}' /proc/meminfo) kernel=$(uname -r)" \
    "load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
  echo "# $(rustc --version) features=${features:-none}"
  # Several runs show the spread; the table shows every run and takes medians for ratios.
  for ((run = 1; run <= ${ARBOR_BENCH_RUNS:-1}; run++)); do
    "$target/release/arbor-bench" "${args[@]}"
  done
  if [ "${ARBOR_STORM:-1}" != 0 ]; then
    "$target/release/arbor-bench" --tests storm --storm-sizes "${ARBOR_STORM_SIZES:-100,1000,10000,100000}"
  fi
  if [ -n "${ARBOR_ERLANG_ANCHOR:-}" ]; then
    echo "# label peer=otp_local: Erlang/OTP, this run"
    DEPTHS=${ERLANG_DEPTHS:-10 14 17 19} "$ARBOR_ERLANG_ANCHOR" | sed 's/^RESULT /RESULT peer=otp_local /'
    if [ "${ARBOR_STORM:-1}" != 0 ]; then
      STORM_SIZES=${ERLANG_STORM_SIZES:-100 1000 10000} STORM_REPS=${ERLANG_STORM_REPS:-3} \
        "$repo/scripts/storm-erlang.sh" | sed 's/^RESULT /RESULT peer=otp_local /'
    fi
  fi
} | tee "$results"

vs=()
[ -n "${ARBOR_ERLANG_ANCHOR:-}" ] && vs=(--vs "Erlang/OTP, this run")
"$target/release/table" "${vs[@]}" "$results" docs/benchmarks-peers.txt >"$out/table.md"
"$target/release/plot" docs/benchmarks-startup.png "$results" docs/benchmarks-peers.txt
echo "wrote $results, $out/table.md, docs/benchmarks-startup.png and (with storm figures) docs/benchmarks-storm.png"
