#!/usr/bin/env bash
# Runs every check and test of the workspace, as CI does, on a fresh Debian machine with Rust:
# first installs what the tests need (a real etcd server for arbor-etcd's tests, protoc for
# etcd-client's build), then fmt, clippy, docs, and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
if ((${#need[@]})); then
  echo "== installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked -q
echo "== tests"
cargo test --workspace --locked
