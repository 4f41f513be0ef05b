#!/usr/bin/env bash
# Records the store bench's fixture from the real agent on this machine:
#   crates/crowsnest-store/benches/record_fixture.sh [SECONDS]   (default 180; needs root)
#
# Makes 50 cgroups (v1: cpu, cpuacct, memory, pids, blkio) with real load:
#   10 busy loops capped by CFS quota at 1-10 % of a core (irregular ns counters),
#   10 memory churners (python, allocate and free 4-40 MiB every few seconds),
#   10 writers (dd oflag=direct of 1 MiB every 2-5 s: blkio counters),
#   5 talkers in their own network namespace (veth to the host; python sends UDP datagrams
#     of random size to the host side, whose ICMP replies come back: network byte counters),
#   15 sleepers (idle containers: constants),
# runs `crowsnest agent` (1 s housekeeping, 5 min of history) on 127.0.0.1, waits SECONDS,
# fetches every container's whole history from /api/v1.3/subcontainers/?num_stats=-1, converts
# it to canonical samples with the `record_fixture` example and writes
# benches/fixtures/agent-<SECONDS>s-1s.txt.gz. Removes every process and cgroup it made.
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs="${1:-180}"
[ "$(id -u)" = 0 ] || { echo "needs root (makes cgroups)" >&2; exit 2; }
[ -x target/release/crowsnest ] || cargo build --release --quiet -p crowsnest
cargo build --release --quiet -p crowsnest-store --example record_fixture

tmp=$(mktemp -d)
ctrls="cpu cpuacct memory pids blkio"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Everything left in our cgroups was started by us (and its children): kill it there.
  for try in 1 2 3 4 5 6 7 8 9 10; do
    left=$(cat /sys/fs/cgroup/pids/csbench/cg*/cgroup.procs 2>/dev/null || true)
    [ -z "$left" ] && break
    kill -9 $left 2>/dev/null || true
    sleep 0.5
  done
  for c in $ctrls; do
    for d in /sys/fs/cgroup/$c/csbench/cg*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
    rmdir /sys/fs/cgroup/$c/csbench 2>/dev/null || true
  done
  for i in 46 47 48 49 50; do ip netns del csbench$i 2>/dev/null || true; done
  ls -d /sys/fs/cgroup/*/csbench 2>/dev/null && echo "warning: cgroups left behind" >&2
  rm -rf "$tmp"
}
trap cleanup EXIT

start_in() { # start_in N COMMAND...: run COMMAND inside cgroup cgN
  local n=$1; shift
  for c in $ctrls; do mkdir -p /sys/fs/cgroup/$c/csbench/cg$n; done
  sh -c "for c in $ctrls; do echo \$\$ > /sys/fs/cgroup/\$c/csbench/cg$n/cgroup.procs; done; exec \"\$@\"" sh "$@" &
  pids+=($!)
  disown $!
}

for i in $(seq 1 50); do
  for c in $ctrls; do mkdir -p /sys/fs/cgroup/$c/csbench/cg$i; done
  echo $((256 * 1024 * 1024)) > /sys/fs/cgroup/memory/csbench/cg$i/memory.limit_in_bytes
  echo 200 > /sys/fs/cgroup/pids/csbench/cg$i/pids.max
done
for i in $(seq 1 10); do
  echo $(( (i % 10 + 1) * 1000 )) > /sys/fs/cgroup/cpu/csbench/cg$i/cpu.cfs_quota_us
  start_in "$i" timeout $((secs + 120)) sh -c 'while :; do :; done'
done
for i in $(seq 11 20); do
  start_in "$i" timeout $((secs + 120)) python3 -c '
import random, time
keep = []
while True:
    if len(keep) > 4 or (keep and random.random() < 0.4):
        keep.pop(random.randrange(len(keep)))
    else:
        b = bytearray(random.randint(4, 40) << 20)
        for j in range(0, len(b), 4096): b[j] = 1
        keep.append(b)
    time.sleep(random.uniform(1, 6))
'
done
for i in $(seq 21 30); do
  start_in "$i" timeout $((secs + 120)) sh -c "while :; do dd if=/dev/zero of=$tmp/io$i bs=1M count=1 oflag=direct 2>/dev/null; sleep \$((2 + \$\$ % 4)); done"
done
for i in $(seq 31 45); do
  start_in "$i" timeout $((secs + 120)) sleep $((secs + 120))
done
for i in 46 47 48 49 50; do
  ip netns add csbench$i
  ip link add csv$i type veth peer name csp$i
  ip link set csp$i netns csbench$i
  ip addr add 10.77.$i.1/30 dev csv$i && ip link set csv$i up
  ip netns exec csbench$i ip addr add 10.77.$i.2/30 dev csp$i
  ip netns exec csbench$i ip link set csp$i up
  # Every process of the container in the namespace (the agent reads the first one's).
  start_in "$i" ip netns exec csbench$i timeout $((secs + 120)) python3 -c "
import random, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    for _ in range(random.randint(0, 20)):
        s.sendto(bytes(random.randint(20, 1400)), ('10.77.$i.1', 9))
    time.sleep(random.uniform(0.2, 2))
"
done

port=$((20000 + RANDOM % 20000))
target/release/crowsnest agent --listen 127.0.0.1:$port --storage-duration 5m \
  --housekeeping-interval 1s --log-level warn > "$tmp/agent.log" 2>&1 &
pids+=($!)
echo "recording ${secs}s of $(ls -d /sys/fs/cgroup/cpu/csbench/cg* | wc -l) cgroups (and the host's own) from the agent on :$port" >&2
sleep $((secs + 5))
curl -sf "http://127.0.0.1:$port/api/v1.3/subcontainers/?num_stats=-1" -o "$tmp/history.json"
out=crates/crowsnest-store/benches/fixtures/agent-${secs}s-1s.txt
target/release/examples/record_fixture "$tmp/history.json" "$out"
gzip -9 -f "$out"
ls -l "$out.gz" >&2
