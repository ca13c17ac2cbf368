#!/usr/bin/env bash
# Live capture yardstick: `sensor run` on one end of a veth pair between two network
# namespaces made here, tcpreplay sending from the other end at a fixed rate; prints what the
# kernel counted, what the workers processed, the drops, and the daemon's CPU time.
# Usage (root): live-veth.sh SENSOR_BIN PCAP BACKEND WORKERS PPS LOOPS RULES
# Bounded: LOOPS x packets of PCAP at PPS; namespaces are removed on exit.
set -euo pipefail
bin=$1 pcap=$2 backend=$3 workers=$4 pps=$5 loops=$6 rules=$7
id=bench-$$
dir=$(mktemp -d); chmod 777 "$dir"
cleanup() { ip netns pids "$id-a" 2>/dev/null | xargs -r kill -9; ip netns del "$id-a" 2>/dev/null || true; ip netns del "$id-b" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$id-a"; ip netns add "$id-b"
ip link add cap0 netns "$id-a" type veth peer name snd0 netns "$id-b"
for ns in "$id-a" "$id-b"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$id-a" link set cap0 up; ip -n "$id-b" link set snd0 up
cat > "$dir/s.toml" <<CFG
[sensor]
id = "bench"
user = "nobody"
[log]
health_interval = 0
[stats]
interval = 0
[rules]
paths = ["$rules"]
[eve]
path = "$dir/eve.json"
[[interface]]
name = "cap0"
backend = "$backend"
workers = $workers
block_size = ${BLOCK:-1048576}
ring_size = ${RING:-67108864}
CFG
: >"$dir/log"
ip netns exec "$id-a" "$bin" run --config "$dir/s.toml" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q "sensor running" "$dir/log" && break; sleep 0.1; done
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
start=$(date +%s.%N)
# SENDERS parallel tcpreplay processes (default 1), when one sender is the bottleneck;
# PPS "max" sends at top speed.
rate=(--pps="$pps"); [ "$pps" = max ] && rate=(--topspeed)
senders=()
for i in $(seq "${SENDERS:-1}"); do
  ip netns exec "$id-b" tcpreplay -q -K "${rate[@]}" --loop="$loops" -i snd0 "$pcap" >"$dir/replay.$i" 2>&1 &
  senders+=($!)
done
wait "${senders[@]}" || true
end=$(date +%s.%N)
sleep 0.5
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
kill -TERM $pid; wait $pid || true
tail -1 "$dir/log" | tr ' ' '\n' | grep -E "^(packets|kernel_packets|kernel_drops|alerts)=" | tr '\n' ' '
bytes=$(cat "$dir"/replay.* | grep -oE "[0-9]+ bytes" | awk '{s+=$1} END {print s+0}')
awk -v t0="$t0" -v t1="$t1" -v s="$start" -v e="$end" -v b="${bytes:-0}" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { secs=e-s; cpu=(t1-t0)/hz; gbit=b*8/secs/1e9; printf "send_secs=%.2f cpu_secs=%.2f Gbit/s=%.3f cpu_per_Gbit/s=%.2f\n", secs, cpu, gbit, (gbit>0 ? cpu/secs/gbit : 0) }'
