#!/usr/bin/env bash
# Benchmarks. Prints one figure per line as `name value unit`.
#   scripts/bench.sh agent [--containers N] [--passes P] [--history-passes H]
# The agent bench makes N real cgroups (default 500) with a sleeping process each, runs the
# agent's housekeeping against them and a bare pread loop over the same files, then runs 50
# real Docker containers with runtime metadata on and off, and removes everything it made.
# Needs root (and Docker for the second part).
set -euo pipefail
cd "$(dirname "$0")/.."
# Cargo's target directory (CARGO_TARGET_DIR when set).
release="${CARGO_TARGET_DIR:-target}/release"
what="${1:-}"; shift || true
case "$what" in
  agent)
    cargo build --release --quiet -p crowsnest-agent --example bench_agent --example bench_runtime
    "$release"/examples/bench_agent "$@"
    # 50 real Docker containers, runtime metadata on vs off (exit code 2: no usable Docker).
    rc=0; "$release"/examples/bench_runtime || rc=$?
    if [ "$rc" -eq 2 ]; then echo "bench_runtime skipped: no usable Docker" >&2; elif [ "$rc" -ne 0 ]; then exit "$rc"; fi
    ;;
  sinks)
    # scripts/bench.sh sinks [--containers N] [--seconds S] [--e2e-points P]
    # Encoders on one core, then send() -> stored in a real influxd on 127.0.0.1.
    cargo build --release --quiet -p crowsnest-sinks --example bench_sinks
    exec "$release"/examples/bench_sinks "$@"
    ;;
  store)
    # scripts/bench.sh store [--containers N] [--minutes M]
    # The embedded store on real agent output (crates/crowsnest-store/benches/fixtures, made by
    # crates/crowsnest-store/benches/record_fixture.sh), looped in time; then the same samples
    # in VictoriaMetrics (Debian's victoria-metrics, started on 127.0.0.1 with a temp data dir,
    # fed Influx line protocol on /write, force-flushed, data dir measured) side by side.
    cargo build --release --quiet -p crowsnest-store --example bench_store
    tmp=$(mktemp -d)
    vm_pid=""
    trap '[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
    gzip -dc crates/crowsnest-store/benches/fixtures/agent-180s-1s.txt.gz > "$tmp/fixture.txt"
    "$release"/examples/bench_store --fixture "$tmp/fixture.txt" --lp-out "$tmp/mix.lp" "$@" | tee "$tmp/store.txt"
    if ! command -v victoria-metrics >/dev/null; then
      if [ "$(id -u)" = 0 ]; then
        apt-get install -y --no-install-recommends victoria-metrics >/dev/null
      else
        echo "vm_bytes_per_sample_mix skipped: victoria-metrics is not installed" >&2; exit 0
      fi
    fi
    port=$((30000 + RANDOM % 20000))
    victoria-metrics -httpListenAddr=127.0.0.1:$port -storageDataPath="$tmp/vm" \
      -retentionPeriod=100y -loggerLevel=ERROR > "$tmp/vm.log" 2>&1 &
    vm_pid=$!
    for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
    split -l 20000 "$tmp/mix.lp" "$tmp/lp."
    for f in "$tmp"/lp.*; do curl -sf -XPOST "http://127.0.0.1:$port/write" --data-binary @"$f"; done
    curl -sf "http://127.0.0.1:$port/internal/force_flush"
    # The data dir settles once the flushed parts are written; wait until it stops changing.
    prev=-1; vm_bytes=0
    for _ in $(seq 1 30); do
      sleep 2; vm_bytes=$(du -sb "$tmp/vm" | cut -f1)
      [ "$vm_bytes" = "$prev" ] && break; prev=$vm_bytes
    done
    awk -v b="$vm_bytes" '
      $1 == "store_mix_samples" { n = $2 }
      $1 == "store_bytes_per_sample_mix" { raw = $2 }
      $1 == "store_bytes_per_sample_mix_all_files" { all = $2 }
      END {
        vm = b / n
        printf "vm_bytes_per_sample_mix %.3f bytes\n", vm
        printf "store_over_vm_bytes %.3f ratio\n", raw / vm
        printf "store_all_files_over_vm_bytes %.3f ratio\n", all / vm
      }' "$tmp/store.txt"
    ;;
  hub)
    # scripts/bench.sh hub [--nodes 200] [--containers 100] [--resolution-ms 4000]
    #                      [--samples-per-scrape 10] [--retention-points 90]
    #                      [--model-store memory|store] [--model-only]
    # A real hub in one process scraping N simulated nodes (a load generator in a child
    # process: N agent APIs on 127.0.0.1, M containers each, ~1 KB samples) until its model
    # holds the retention (about six minutes by default). The child's CPU is not counted.
    cargo build --release --quiet -p crowsnest-hub --example bench_hub
    exec "$release"/examples/bench_hub "$@"
    ;;
  *)
    echo "usage: scripts/bench.sh agent [--containers N] [--passes P] [--history-passes H]" >&2
    exit 2
    ;;
esac
