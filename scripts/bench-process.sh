#!/usr/bin/env bash
# The like-for-like batch of docs/PERFORMANCE.md ("Daemon"): a remailer
# processes N intermediate-hop packets with `mixd process --dir D FILE...`
# (store with fsync, decrypt, replay log, pool) and sends them on with
# `mixd flush --dir D --all` to dir: (one fsync'd file per packet), as
# Mixmaster 3.0.2d's `mixmaster -R` + `-S` batch does.
#
# It creates two nodes A and B (BITS-bit keys), makes N packets for the
# chain A,B (so A is an intermediate hop) with internal/e2e/benchtool,
# which builds them as `mix send` does, and times A's batch on one core
# (GOMAXPROCS=1, workers = 1) and on all cores, RUNS times each, each run
# on a fresh store. Everything happens in a scratch directory under
# BENCH_DIR (default .bench in the checkout), removed at the end.
#
# Why not /tmp: on a file system without a journal (ext4 as this VM has
# it), creating a file skips every inode deleted in the last minutes in its
# block group, one lookup each. /tmp, where `go build` and the tests churn
# thousands of files, then costs ~1 ms per created file instead of ~0.05
# ms, and the dir: flush measures the toolchain's litter, not the daemon.
# A node's directory (/var/lib/mixd) sees no such churn. For the same
# reason each run writes to a new output directory and nothing is deleted
# until the end.
#
#   scripts/bench-process.sh                 N=2000 BITS=1024 RUNS=3
#   BITS=4096 scripts/bench-process.sh
#   PROFILE=/tmp/prof scripts/bench-process.sh   CPU profiles per phase
set -euo pipefail
# The body is one compound command, read whole before it runs: editing or
# checking out this file during a run cannot change what runs.
{
cd "$(dirname "$0")/.."
N=${N:-2000}
BITS=${BITS:-1024}
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-}
mkdir -p "${BENCH_DIR:=.bench}"
work=$(mktemp -d "$BENCH_DIR/mixgo-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

go build -o "$work/bin/" ./cmd/mixd ./internal/e2e/benchtool
bin=$work/bin
for n in a b; do
  "$bin/mixd" init --dir "$work/$n" --name "$n" --address "$n@bench.test" \
    --key-bits "$BITS" --deliver "dir:$work/out" >/dev/null
done
# No dummies: the batch measures the packets' own work.
printf "in_dummy_percent = 0\nout_dummy_percent = 0\n${EXTRA_CONF:-}\n" >>"$work/a/mixd.conf"
cp "$work/a/mixd.conf" "$work/a.conf"
cat "$work/a/key.txt" "$work/b/key.txt" >"$work/pubring.mix"
"$bin/benchtool" gen --pubring "$work/pubring.mix" --chain a,b --n "$N" --out "$work/in" >/dev/null

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "batch: $N packets, $BITS-bit keys, chain a,b, node a, fsync on, deliver dir:"

now() { date +%s.%N; }
run() { # mode-name gomaxprocs workers
  local name=$1 procs=$2 workers=$3 i
  cp "$work/a.conf" "$work/a/mixd.conf"
  echo "workers = $workers" >>"$work/a/mixd.conf"
  local rates=()
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$work/a/pool.db" "$work/a/pool.db.spool"
    local out=$work/out-$name-$i
    mkdir "$out"
    sed -i "s|^deliver = .*|deliver = dir:$out|" "$work/a/mixd.conf"
    sync
    local p1="" p2=""
    if [[ -n $PROFILE ]]; then
      mkdir -p "$PROFILE"
      p1=$PROFILE/$name-$BITS-process.prof p2=$PROFILE/$name-$BITS-flush.prof
    fi
    local t0 t1 t2
    t0=$(now)
    MIXD_CPUPROFILE=$p1 GOMAXPROCS=$procs "$bin/mixd" process --dir "$work/a" "$work/in"/*.eml
    t1=$(now)
    MIXD_CPUPROFILE=$p2 GOMAXPROCS=$procs "$bin/mixd" flush --dir "$work/a" --all >/dev/null
    t2=$(now)
    local got
    got=$(find "$out" -name '*.eml' | wc -l)
    if [[ $got -ne $N ]]; then
      echo "run $i: $got files delivered, want $N" >&2
      exit 1
    fi
    local line
    line=$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$N" \
      'BEGIN { printf "process %.2fs  flush %.2fs  total %.2fs  %.0f packets/s", b-a, c-b, c-a, n/(c-a) }')
    echo "  $name run $i: $line"
    rates+=("$(awk -v a="$t0" -v c="$t2" -v n="$N" 'BEGIN { printf "%.0f", n/(c-a) }')")
  done
  printf '%s\n' "${rates[@]}" | sort -n | awk -v name="$name" -v bits="$BITS" \
    '{ r[NR] = $1 } END { printf "%s, %d bits: median %d packets/s (best %d, worst %d)\n", name, bits, r[int((NR+1)/2)], r[NR], r[1] }'
}
run one-core 1 1
run all-cores "$(nproc)" 0
exit
}
