#!/usr/bin/env bash
# Benchmarks. Prints one figure per line as `name value unit`.
#   scripts/bench.sh agent [--containers N] [--passes P] [--history-passes H]
# The agent bench makes N real cgroups (default 500) with a sleeping process each, runs the
# agent's housekeeping against them and a bare pread loop over the same files, and removes
# everything it made. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"; shift || true
case "$what" in
  agent)
    cargo build --release --quiet -p crowsnest-agent --example bench_agent
    exec target/release/examples/bench_agent "$@"
    ;;
  *)
    echo "usage: scripts/bench.sh agent [--containers N] [--passes P] [--history-passes H]" >&2
    exit 2
    ;;
esac
