#!/usr/bin/env bash
# The daemon end to end on loopback (docs/PERFORMANCE.md, "Daemon"):
#
#   scripts/bench-daemon.sh             throughput: N packets (default 5000)
#                                       SMTP in → decrypt → pool (flushed
#                                       continuously) → SMTP out to a sink
#   MODE=rss scripts/bench-daemon.sh    memory: N packets (default 100000)
#                                       held in the pool; peak RSS (VmHWM)
#
# A node A (`mixd run`, BITS-bit key, fsync on) gets intermediate-hop
# packets for the chain A,B over CONNS (default 32) concurrent SMTP
# connections from internal/e2e/benchtool, which sends them as a mixgo node
# does (VIA=data: as an MTA without CHUNKING), builds them as `mix send`
# does and runs the
# SMTP sink A delivers to. Throughput mode: pool_size 0, pool_rate 100,
# pool_interval 100ms, so the pool passes everything on at once; the
# figure is packets per second from the first submission to the last
# arrival at the sink, with a CPU profile of the daemon summarised by
# stage, and the daemon's own storage timings (group commits, fsync). RSS
# mode: pool_size above N, so nothing leaves; packets are made on the fly
# (not kept on disk), the pool holds all N, `mixd pool` runs over it, then
# `mixd flush --all` drains it to the sink; VmHWM of the daemon is read
# from /proc at each step. Everything is in a scratch directory, removed
# at the end (KEEP=1 keeps it), under BENCH_DIR (default .bench in the
# checkout; see scripts/bench-process.sh for why not /tmp).
set -euo pipefail
# The body is one compound command, read whole before it runs: editing or
# checking out this file during a run cannot change what runs.
{
cd "$(dirname "$0")/.."
MODE=${MODE:-throughput}
BITS=${BITS:-1024}
CONNS=${CONNS:-32}
if [[ $MODE == rss ]]; then N=${N:-100000}; else N=${N:-5000}; fi
mkdir -p "${BENCH_DIR:=.bench}"
work=$(mktemp -d "$BENCH_DIR/mixgo-bench.XXXXXX")
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ -n ${KEEP:-} ]] && echo "kept $work" && return 0
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/bin/" ./cmd/mixd ./internal/e2e/benchtool
bin=$work/bin
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen=127.0.0.1:$(port)
sink=127.0.0.1:$(port)
for n in a b; do
  "$bin/mixd" init --dir "$work/$n" --name "$n" --address "$n@bench.test" --key-bits "$BITS" \
    --listen "$listen" --deliver "smtp://$sink" >/dev/null
done
cat "$work/a/key.txt" "$work/b/key.txt" >"$work/pubring.mix"
{
  echo "in_dummy_percent = 0"
  echo "out_dummy_percent = 0"
  echo "starttls = off"
  echo "max_connections = 200"
  echo "pool_strategy = timed-dynamic"
  if [[ $MODE == rss ]]; then
    echo "pool_size = $((N + 1000))"
    echo "pool_interval = 1s"
  else
    echo "pool_size = 0"
    echo "pool_rate = 100"
    echo "pool_interval = 100ms"
  fi
} >>"$work/a/mixd.conf"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"

start_daemon() {
  MIXD_CPUPROFILE=$work/daemon.prof "$bin/mixd" run --dir "$work/a" 2>"$work/daemon.log" &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/${listen%:*}/${listen#*:}") 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "mixd did not start:" >&2
  cat "$work/daemon.log" >&2
  exit 1
}
stop_daemon() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}
hwm() { awk '/^VmHWM|^VmRSS|^RssAnon|^RssFile/ { printf "%s %d MB  ", $1, $2/1024 }' "/proc/$pid/status"; }

if [[ $MODE != rss ]]; then
  "$bin/benchtool" gen --pubring "$work/pubring.mix" --chain a,b --n "$N" --out "$work/in" >/dev/null
  echo "end to end: $N packets, $BITS-bit keys, $CONNS SMTP connections in, fsync on, pool_size 0 / rate 100 / every 100ms, SMTP out"
  start_daemon
  /usr/bin/time -f "load generator and sink (benchtool): %U s user + %S s system CPU" \
    "$bin/benchtool" load --smtp "$listen" --rcpt a@bench.test --in "$work/in" --conns "$CONNS" --sink "$sink" --via "${VIA:-mailout}"
  echo "daemon: $(hwm)"
  stop_daemon
  grep -o 'msg=storage.*' "$work/daemon.log" | tail -1 | sed 's/^/daemon /'
  echo "CPU profile of the daemon by stage (a stack counts in every stage it matches):"
  total=$(go tool pprof -top "$bin/mixd" "$work/daemon.prof" 2>/dev/null | sed -n 's/.*Total samples = \([^ ]*\).*/\1/p')
  echo "  total CPU $total over the run"
  stage() {
    local name=$1 re=$2 ignore=${3:-}
    local line
    line=$(go tool pprof -top -focus="$re" ${ignore:+-ignore="$ignore"} "$bin/mixd" "$work/daemon.prof" 2>/dev/null |
      sed -n 's/^Showing nodes accounting for \([^,]*\), \([^ ]*\) of.*/\1 \2/p')
    printf '  %-44s %s\n' "$name" "${line:-0 0%}"
  }
  # Packets are decrypted inside the SMTP session, before its reply.
  stage "SMTP in (go-smtp session, reading the mail)" 'emersion/go-smtp\.\(\*Conn\)' 'mix\.\(\*Node\)\.ProcessDirect'
  stage "decrypt (packet.Process)" 'packet\.Process$'
  stage "dearmour, accept (replay log, seal, spool)" 'pool\.\(\*Store\)\.(LoadIncoming|Accept)$|packet\.Dearmor'
  stage "group commit (bbolt write, fsync syscalls)" 'pool\.\(\*Store\)\.commitLoop'
  stage "pool rounds (select, re-seal, move)" 'pool\.\(\*Store\)\.(RunPool|moveAll)'
  stage "send (Due, armour, SMTP out, ack)" 'mix\.\(\*Node\)\.(SendDue|sendOne)'
  stage "garbage collector" 'runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge'
  exit 0
fi

echo "RSS: $N packets held in the pool, $BITS-bit keys, $CONNS SMTP connections, fsync on, pool rounds every 1s"
start_daemon
echo "idle:                $(hwm)"
"$bin/benchtool" load --smtp "$listen" --rcpt a@bench.test --pubring "$work/pubring.mix" --chain a,b \
  --n "$N" --conns "$CONNS" --timeout 60m
# Wait until every packet is decrypted and pooled.
for _ in $(seq 600); do
  pooled=$("$bin/mixd" pool --dir "$work/a" | awk '/^pool / { print $2 }')
  [[ ${pooled:-0} -ge $N ]] && break
  sleep 1
done
echo "pool holds ${pooled:-?}:  $(hwm)"
sleep 3 # a few pool rounds over the full pool
"$bin/mixd" pool --dir "$work/a" >/dev/null
echo "after rounds, pool:  $(hwm)   store files: $(du -sh "$work/a/pool.db" "$work/a/pool.db.spool" | awk '{ printf "%s %s  ", $2, $1 }' | sed "s|$work/a/||g")"
"$bin/benchtool" sink --listen "$sink" --expect "$N" --timeout 60m >"$work/drain.txt" 2>&1 &
drain=$!
sleep 0.5
"$bin/mixd" flush --dir "$work/a" --all
wait "$drain" || { cat "$work/drain.txt"; exit 1; }
echo "after draining all:  $(hwm)   ($(cat "$work/drain.txt"))"
stop_daemon
grep -o 'msg=storage.*' "$work/daemon.log" | tail -1 | sed 's/^/daemon /'
exit
}
