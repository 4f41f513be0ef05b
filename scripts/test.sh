#!/usr/bin/env bash
# The whole test suite, as a newcomer and CI run it: installs what the tests need on a fresh
# Debian/Ubuntu machine (promtool from the prometheus package, python3, busybox-static, podman
# with runc, influxd and victoria-metrics), then checks format, lints and runs every test. Tests make real cgroups and
# containers, so run it as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# The Docker and Podman tests build their images from busybox-static (no registry needed).
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox-static)
# Podman with runc (crun refuses this machine kind's hybrid cgroups; shared/peers.md section 5).
command -v podman >/dev/null 2>&1 || need_apt+=(podman catatonit)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# The sinks are tested against real servers (started by the tests on 127.0.0.1 ports).
command -v influxd >/dev/null 2>&1 || need_apt+=(influxdb influxdb-client)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
# The `containerd` feature (containerd's gRPC API) compiles containerd's protos with protoc.
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
# The web UI is tested in headless Chromium.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# `crowsnest top` is driven in a real terminal under tmux.
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The packages start system services on all addresses where systemd runs; the tests start
  # their own servers on 127.0.0.1, so stop the packaged ones.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now influxdb victoria-metrics prometheus >/dev/null 2>&1 || true
  fi
fi
# The Docker tests need a running Docker Engine. Where dockerd is installed but not running (a
# machine booted without its service manager), start it and wait for its socket.
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd (log: /var/log/crowsnest-test-dockerd.log)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v systemctl >/dev/null 2>&1 && $SUDO systemctl start docker >/dev/null 2>&1; then
    :
  else
    $SUDO setsid nohup dockerd >>/var/log/crowsnest-test-dockerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || echo "dockerd did not come up in 60 s; see /var/log/crowsnest-test-dockerd.log" >&2
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust 1.95 or later from https://rustup.rs" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked "$@"
# The `containerd` feature: containerd's API, tested against the containerd of Docker Engine.
echo "== cargo clippy and test --features containerd"
cargo clippy -p crowsnest-collect -p crowsnest-agent --all-targets --locked \
  --features crowsnest-agent/containerd -- -D warnings
cargo test -p crowsnest-collect --lib --locked --features containerd runtime::containerd
cargo test -p crowsnest-agent --test it --locked --features containerd containerd
# The store's fuzz target (fuzz/, its own workspace): built with the stable toolchain and run
# over a copy of its seeds for a bounded number of inputs (`cargo +nightly fuzz run` is the
# coverage-guided run, documented in fuzz/Cargo.toml).
echo "== fuzz target: build and bounded run"
cargo build --manifest-path fuzz/Cargo.toml --locked --bin segment_decoder
fuzz_corpus=$(mktemp -d)
trap 'rm -rf "$fuzz_corpus"' EXIT
cp fuzz/seeds/segment_decoder/* "$fuzz_corpus"/
"${CARGO_TARGET_DIR:-fuzz/target}"/debug/segment_decoder -runs=20000 -max_total_time=60 "$fuzz_corpus"
