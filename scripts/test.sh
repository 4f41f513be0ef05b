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
