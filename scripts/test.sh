#!/usr/bin/env bash
# Runs every check and test of the workspace, as CI does, on a fresh Debian machine with Rust.
#
# First installs, with apt-get and only when missing, what the tests need outside Rust:
#   - etcd-server: arbor-etcd's tests run against real etcd servers (one member and a cluster);
#   - protobuf-compiler and libprotobuf-dev: the etcd-client crate under arbor-etcd compiles
#     etcd's .proto files in its build script, which needs protoc and protobuf's well-known types
#     (google/protobuf/*.proto, shipped in libprotobuf-dev, not in protobuf-compiler);
#   - tmux: the `arbor` command's live view is tested in a real terminal, driven through tmux;
#   - iproute2: arbor-etcd's partition tests put hosts in network namespaces and cut them off
#     with `ip` (they need root too, and say SKIPPED without it).
# Then fmt, clippy, docs, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
why=()
if ! command -v etcd >/dev/null 2>&1; then
  need+=(etcd-server)
  why+=("etcd-server: a real etcd for arbor-etcd's tests")
fi
if ! command -v protoc >/dev/null 2>&1; then
  need+=(protobuf-compiler)
  why+=("protobuf-compiler: protoc, for etcd-client's build script")
fi
if [ ! -e /usr/include/google/protobuf/descriptor.proto ]; then
  need+=(libprotobuf-dev)
  why+=("libprotobuf-dev: protobuf's well-known types (google/protobuf/descriptor.proto) for protoc")
fi
if ! command -v tmux >/dev/null 2>&1; then
  need+=(tmux)
  why+=("tmux: a real terminal for the arbor command's live-view test")
fi
if ! command -v ip >/dev/null 2>&1; then
  need+=(iproute2)
  why+=("iproute2: ip, for the network namespaces of arbor-etcd's partition tests")
fi
if ((${#need[@]})); then
  echo "== installing with apt-get: ${need[*]}"
  printf '   %s\n' "${why[@]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "scripts/test.sh: run as root, or install sudo, to install: ${need[*]}" >&2
      exit 1
    }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked -q
echo "== tests"
cargo test --workspace --locked
