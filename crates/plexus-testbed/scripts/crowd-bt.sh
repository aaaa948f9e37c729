#!/usr/bin/env bash
# A reference for `plexus-testbed crowd-full`: the same flash crowd (one
# seeder, GETTERS getters, every host's upload and download capped at MBIT
# with the test bed's tbf settings, all asking for the same MIB at once),
# run with a mature BitTorrent client instead of Plexus: aria2 (aria2c,
# Debian: aria2) with its default choking and piece selection, a local
# tracker (bt_tools.py), no DHT or local discovery. It prints the last
# getter's finish time against the same fluid bound. Needs root and
# python3; uses its own namespaces (bt-*) and removes them on exit
# (KEEP=1 keeps the data and logs). transmission-cli 3.00 was tried too:
# its getters connected to each other but uploaded nothing, so each
# fetched everything from the seeder; it is left out.
#
#   GETTERS=24 MBIT=20 MIB=64 PIECE=262144 crates/plexus-testbed/scripts/crowd-bt.sh
set -euo pipefail
GETTERS=${GETTERS:-24}
MBIT=${MBIT:-20} # whole Mbit/s
MIB=${MIB:-64}
PIECE=${PIECE:-262144}
DIR=$(mktemp -d /tmp/crowd-bt.XXXX)
TOOLS=$(cd "$(dirname "$0")" && pwd)/bt_tools.py

cleanup() {
  for i in $(seq 0 $GETTERS); do
    for p in $(ip netns pids bt-h$i 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del bt-h$i 2>/dev/null || true
  done
  ip netns del bt-br 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $DIR" >&2 || rm -rf "$DIR"
}
trap cleanup EXIT

tbf() { # ns dev: the test bed's set_tbf (burst ~4 ms, at least 32 KiB; queue 100 ms)
  local burst
  burst=$(python3 -c "print(max(int($MBIT*1e6/8/250), 32*1024))")
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$((MBIT * 1000))kbit" burst "$burst" latency 100ms
}

ip netns add bt-br
ip -n bt-br link add br0 type bridge
ip -n bt-br link set br0 up
for i in $(seq 0 $GETTERS); do
  ip netns add bt-h$i
  ip link add h$i netns bt-br type veth peer name eth0 netns bt-h$i
  ip -n bt-br link set h$i master br0
  ip -n bt-br link set h$i up
  ip -n bt-h$i addr add 10.77.0.$((i + 10))/24 dev eth0
  ip -n bt-h$i link set eth0 up
  ip -n bt-h$i link set lo up
  tbf bt-h$i eth0
  tbf bt-br h$i
done

mkdir -p "$DIR/seed"
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$DIR/seed/crowd.bin"
python3 "$TOOLS" torrent "$DIR/seed/crowd.bin" http://10.77.0.10:6969/announce "$PIECE" "$DIR/crowd.torrent"
cat > "$DIR/done.sh" <<HOOK
#!/bin/sh
echo "\$(date +%s.%N) \$3" >> "$DIR/done.txt"
HOOK
chmod +x "$DIR/done.sh"
: > "$DIR/done.txt"

ip netns exec bt-h0 python3 "$TOOLS" tracker 6969 > /dev/null 2>&1 & disown
sleep 0.5
# aria2 on host $1 with its data in $2, then $3...: the options of its role.
COMMON=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --file-allocation=none
  --console-log-level=error --summary-interval=0 --bt-max-peers=0 --seed-ratio=0.0 --seed-time=30)
client() {
  local i=$1 dir=$2
  shift 2
  ip netns exec bt-h$i aria2c "${COMMON[@]}" "$@" --dir="$dir" "$DIR/crowd.torrent"
}
client 0 "$DIR/seed" --bt-seed-unverified=true > "$DIR/seed.log" 2>&1 & disown
# Time for the seeder to check its data and announce itself.
sleep 3
tx0=$(ip netns exec bt-h0 cat /sys/class/net/eth0/statistics/tx_bytes)
start=$(date +%s.%N)
for i in $(seq 1 $GETTERS); do
  mkdir -p "$DIR/g$i"
  client $i "$DIR/g$i" --bt-hash-check-seed=false --on-bt-download-complete="$DIR/done.sh" > "$DIR/g$i.log" 2>&1 & disown
done
limit=$(python3 -c "print(int($MIB*1048576*8/($MBIT*1e6)*4 + 60))")
for _ in $(seq 1 $((limit * 10))); do
  [ "$(wc -l < "$DIR/done.txt")" -ge "$GETTERS" ] && break
  sleep 0.1
done
tx1=$(ip netns exec bt-h0 cat /sys/class/net/eth0/statistics/tx_bytes)
want=$(md5sum < "$DIR/seed/crowd.bin")
bad=0
for i in $(seq 1 $GETTERS); do
  [ "$(md5sum < "$DIR/g$i/crowd.bin" 2>/dev/null)" = "$want" ] || bad=$((bad + 1))
done
python3 - "$start" "$DIR/done.txt" "$GETTERS" "$MBIT" "$MIB" "$((tx1 - tx0))" "$bad" "$PIECE" <<'PY'
import sys
start, path, n, mbit, mib, tx, bad, piece = sys.argv[1:]
start, n, mbit, mib, tx, bad = float(start), int(n), float(mbit), float(mib), int(tx), int(bad)
f = mib * 1048576
u = mbit * 1e6 / 8
# Every link is u: max(F/u_seeder, N F/(u_seeder + N u), F/d) is F/u.
bound = max(f / u, n * f / (u + n * u))
done = sorted(float(l.split()[0]) - start for l in open(path) if l.strip())
print(f"aria2 crowd: {n} getters, {mib:.0f} MiB, {mbit:g} Mbit/s up and down, {int(piece)//1024} KiB pieces")
print(f"  finished {len(done)} of {n}; wrong files {bad}")
if done:
    print(f"  last {done[-1]:.1f} s, bound {bound:.1f} s: {done[-1]/bound:.2f} x; first {done[0]:.1f} s, median {done[len(done)//2]:.1f} s")
print(f"  the seeder's link sent {tx/f:.2f} x the file's bytes while they ran")
PY
finished=$(wc -l < "$DIR/done.txt")
if [ "$finished" -lt "$GETTERS" ] || [ "$bad" -gt 0 ]; then
  echo "FAIL: $finished of $GETTERS getters finished in ${limit} s, $bad with a wrong or missing file" >&2
  exit 1
fi
