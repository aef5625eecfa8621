#!/usr/bin/env bash
# Measures `arbor run` beside supervisord and s6 from outside, same program for each, and prints
# one markdown table (rows: metrics; columns: arbor, supervisord, s6, s6 with readiness
# notification). scripts/bench-cli.py says what is measured and how each supervisor is set up.
#
#   scripts/bench-cli.sh                          # N=200 programs, REPS=100, IDLE_S=60
#   N=20 REPS=10 IDLE_S=3 scripts/bench-cli.sh    # a quick try
#   SUPERVISORS="s6 s6-ready" scripts/bench-cli.sh
#
# Installs Debian's supervisor and s6 when supervisord or s6-svscan is missing, builds arbor in
# release, then runs the driver for each supervisor one after the other (never two at once: the
# machine has 2 cores). Writes $CARGO_TARGET_DIR/bench/cli-results.txt (default target/bench/)
# and cli-table.md beside it; exits 1 if any column is missing or incomplete. Other knobs:
# BUDGET_S (restart phase, per supervisor, default 180), FLOOR_REPS, ARBOR_BIN (a prebuilt arbor:
# no cargo build then), ARBOR_PROGRAM_TOML, ARBOR_TOP_TOML, S6_RUN=sh (see the driver).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
out=$target/bench
mkdir -p "$out"
results=$out/cli-results.txt
export N=${N:-200} REPS=${REPS:-100} IDLE_S=${IDLE_S:-60}
supervisors=${SUPERVISORS:-arbor supervisord s6 s6-ready}

missing=()
command -v supervisord >/dev/null || missing+=(supervisor)
command -v s6-svscan >/dev/null || missing+=(s6)
if ((${#missing[@]})); then
  echo "bench-cli: installing ${missing[*]}" >&2
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  }
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || ! apt_install; then
    apt-get update -qq && apt_install || echo "bench-cli: could not install ${missing[*]}" >&2
  fi
fi

arbor_note=
if [[ " $supervisors " == *" arbor "* ]]; then
  arbor_bin=${ARBOR_BIN:-$target/release/arbor}
  if [ -z "${ARBOR_BIN:-}" ] && ! cargo build --release -q -p arbor-cli --locked; then
    arbor_note="cargo build --release -p arbor-cli failed"
  elif ! "$arbor_bin" run --help >/dev/null 2>&1; then
    arbor_note="$arbor_bin has no working 'run' subcommand"
  fi
  export ARBOR_BIN=$arbor_bin
fi

{
  echo "# arbor bench-cli $(date -u +%FT%TZ)" \
    "commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "# machine: nproc=$(nproc)" \
    "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    "kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
  echo "# supervisord $(supervisord --version 2>/dev/null || echo missing)," \
    "s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null || echo missing), $(python3 --version)"
} >"$results"
status=0
for s in $supervisors; do
  echo "bench-cli: === $s (N=$N REPS=$REPS IDLE_S=$IDLE_S)" >&2
  if [ "$s" = arbor ] && [ -n "$arbor_note" ]; then
    printf '# supervisor arbor N=%s REPS=%s IDLE_S=%s\n# note: skipped: %s\n' \
      "$N" "$REPS" "$IDLE_S" "$arbor_note" | tee -a "$results"
    status=1
    continue
  fi
  python3 scripts/bench-cli.py run "$s" | tee -a "$results" || status=1
done

python3 scripts/bench-cli.py table "$results" | tee "$out/cli-table.md"
echo "bench-cli: wrote $results and $out/cli-table.md" >&2
exit "$status"
