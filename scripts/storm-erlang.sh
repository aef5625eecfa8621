#!/usr/bin/env bash
# The restart storm on Erlang/OTP, the peer of arbor-bench's `--tests storm`
# (crates/arbor-bench/src/storm.rs): N permanent workers under one one_for_one supervisor all
# die at once, while the one_for_all group {a, b} beside them is probed. See scripts/storm.erl.
#
#   scripts/storm-erlang.sh                                   # N = 100 1000 10000 100000, 5 storms each
#   STORM_SIZES="100 1000" STORM_REPS=2 scripts/storm-erlang.sh
#   scripts/storm-erlang.sh | sed 's/^RESULT /RESULT peer=otp_local /' >>results.txt
#
# Each size runs in a fresh VM, bounded by STORM_TIMEOUT seconds (default 3600). Other knobs,
# read by storm.erl: STORM_REPS (5), STORM_STRATEGY (one_for_one | simple_one_for_one),
# STORM_REPORT (collector | atomic), STORM_LIMIT (seconds one storm may take, 600).
#
# Prints `RESULT name=value unit` lines, as the Erlang anchors do, and `#` lines; everything
# else goes to stderr. Installs Debian's erlang-base with apt-get when escript is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v escript >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "storm-erlang.sh: escript is missing; run as root, or install sudo, to install erlang-base" >&2
      exit 1
    }
    sudo=sudo
  fi
  echo "storm-erlang.sh: installing erlang-base with apt-get" >&2
  # Update the package lists only when they do not know the package yet.
  if ! apt-cache show erlang-base >/dev/null 2>&1; then
    $sudo apt-get update -qq >&2
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends erlang-base >&2
fi

otp=$(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().')
erts=$(erl -noshell -eval 'io:put_chars(erlang:system_info(version)), halt().')
echo "# erlang storm: OTP $otp erts $erts nproc=$(nproc) reps=${STORM_REPS:-5}" \
  "strategy=${STORM_STRATEGY:-one_for_one} report=${STORM_REPORT:-collector} $(date -u +%FT%TZ)"

status=0
for n in ${STORM_SIZES:-100 1000 10000 100000}; do
  # A fresh VM per size, as the anchors run each measurement.
  if ! timeout "${STORM_TIMEOUT:-3600}" escript "$here/storm.erl" "$n"; then
    echo "# storm_n${n}: failed or timed out (STORM_TIMEOUT=${STORM_TIMEOUT:-3600}s)"
    status=1
  fi
done
exit $status
