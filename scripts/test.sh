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
# The bad-input suite installs schemathesis in a Python venv (below).
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need_apt+=(python3-venv)
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
# The deploy files: the compose file is brought up for real, the units checked by systemd-analyze.
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
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
# The bad-input suite (crates/crowsnest/tests/it/badinput.rs) runs schemathesis (PyPI) with
# docs/openapi.yaml against the real binaries: a pinned version in a venv under the target dir.
st_venv="${CARGO_TARGET_DIR:-target}/schemathesis-venv"
if ! "$st_venv/bin/st" --version 2>/dev/null | grep -qx "st, version 4.32.5"; then
  echo "== installing schemathesis 4.32.5 (pip, in $st_venv)"
  mkdir -p "$st_venv"
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install -q "schemathesis==4.32.5"
fi
CROWSNEST_SCHEMATHESIS="$(cd "$st_venv/bin" && pwd)/st"
export CROWSNEST_SCHEMATHESIS
echo "== cargo test"
cargo test --workspace --locked "$@"
# The `containerd` feature: containerd's API, tested against the containerd of Docker Engine.
echo "== cargo clippy and test --features containerd"
cargo clippy -p crowsnest-collect -p crowsnest-agent --all-targets --locked \
  --features crowsnest-agent/containerd -- -D warnings
cargo test -p crowsnest-collect --lib --locked --features containerd runtime::containerd
cargo test -p crowsnest-agent --test it --locked --features containerd containerd
# The fuzz targets (fuzz/, its own workspace: one per parser of outside input), built with the
# stable toolchain and libFuzzer's coverage instrumentation (the flags cargo-fuzz passes, minus
# the sanitizer, which needs nightly); each runs over a copy of its seeds, the store's segments
# for 20000 inputs or 60 s, every other target for 20 s: about 5 minutes in all. A crash fails
# the script and leaves its input in fuzz/artifacts/. `cargo +nightly fuzz run` is the longer
# run, documented in fuzz/Cargo.toml.
echo "== fuzz targets: build and bounded runs"
fuzz_host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares" \
  cargo build --manifest-path fuzz/Cargo.toml --locked --target "$fuzz_host" --bins
fuzz_corpus=$(mktemp -d)
trap 'rm -rf "$fuzz_corpus"' EXIT
mkdir -p fuzz/artifacts
for fuzz_source in fuzz/fuzz_targets/*.rs; do
  fuzz_target=$(basename "$fuzz_source" .rs)
  fuzz_limits=(-runs=10000000 -max_total_time=20)
  [ "$fuzz_target" = segment_decoder ] && fuzz_limits=(-runs=20000 -max_total_time=60)
  echo "-- fuzz $fuzz_target ${fuzz_limits[*]}"
  mkdir "$fuzz_corpus/$fuzz_target"
  cp fuzz/seeds/"$fuzz_target"/* "$fuzz_corpus/$fuzz_target"/
  if "${CARGO_TARGET_DIR:-fuzz/target}/$fuzz_host/debug/$fuzz_target" "${fuzz_limits[@]}" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$fuzz_target-" "$fuzz_corpus/$fuzz_target" \
    >"$fuzz_corpus/$fuzz_target.log" 2>&1; then
    grep -E '^(Done|stat::peak_rss_mb)' "$fuzz_corpus/$fuzz_target.log"
  else
    tail -n 40 "$fuzz_corpus/$fuzz_target.log"
    echo "fuzz target $fuzz_target failed; its input is in fuzz/artifacts/"
    exit 1
  fi
done
