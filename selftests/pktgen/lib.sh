# Shared by the pktgen scenarios: drives /proc/net/pktgen the way the
# kernel's samples/pktgen scripts do. POSIX sh: busybox in the VM, any sh on
# a bare-metal host. A scenario sources this, sets up its device, and calls
# pg_setup DEV, pg_run, pg_collect.
#
# Parameters (environment, set from scenarios.yaml): PKTGEN_PKT_SIZE,
# PKTGEN_COUNT (0 = until stopped), PKTGEN_DURATION (seconds; stops the run
# then, needs PKTGEN_COUNT=0), PKTGEN_THREADS, PKTGEN_BURST,
# PKTGEN_CLONE_SKB, PKTGEN_XMIT_MODE (start_xmit | netif_receive).
# Results: $KSCI_RESULTS/pktgen.<dev>@<thread> (copies of pktgen's device
# files, parsed by the host) and $KSCI_RESULTS/env.

PG=/proc/net/pktgen
: "${PKTGEN_PKT_SIZE:=64}" "${PKTGEN_COUNT:=1000000}" "${PKTGEN_DURATION:=0}" "${PKTGEN_THREADS:=1}"
: "${PKTGEN_BURST:=1}" "${PKTGEN_CLONE_SKB:=0}" "${PKTGEN_XMIT_MODE:=start_xmit}" "${KSCI_RESULTS:=/tmp}"

die() { echo "pktgen scenario: $*" >&2; exit 1; }

# busybox's sh runs its own `ip` applet, which cannot make veth pairs: use
# iproute2's by path.
IP=
for c in /usr/bin/ip /sbin/ip /usr/sbin/ip /bin/ip; do [ -x "$c" ] && IP=$c && break; done
[ -n "$IP" ] || die "no iproute2 ip binary"

# pgset FILE CMD: pktgen takes any write and says in the file's Result: line
# whether it accepted it ("OK: ..."), so each write is checked there.
pgset() {
  if ! printf '%s\n' "$2" > "$1" 2>/dev/null; then
    die "pktgen refused '$2' in $1${1##*/pgctrl}: $(grep '^Result:' "$1" 2>/dev/null)"
  fi
  case "$1" in */pgctrl) return 0 ;; esac
  grep -q '^Result: OK:' "$1" || die "pktgen refused '$2' in $1: $(grep '^Result:' "$1")"
}

pg_load() {
  [ -d "$PG" ] || modprobe pktgen 2>/dev/null
  [ -d "$PG" ] || die "no $PG: the kernel lacks CONFIG_NET_PKTGEN"
  [ "$PKTGEN_THREADS" -le "$(nproc)" ] || die "PKTGEN_THREADS=$PKTGEN_THREADS but only $(nproc) CPUs (one pktgen thread per CPU)"
  pgset "$PG/pgctrl" reset
}

# pg_setup DEV [DST_MAC]: DEV on threads 0..PKTGEN_THREADS-1 (pktgen's
# kpktgend_N threads are bound to CPU N: the run is pinned by construction).
pg_setup() {
  dev=$1 dst_mac=${2:-02:00:00:00:00:01}
  pg_load
  DEVS=
  t=0
  while [ "$t" -lt "$PKTGEN_THREADS" ]; do
    pgset "$PG/kpktgend_$t" rem_device_all
    pgset "$PG/kpktgend_$t" "add_device $dev@$t"
    f="$PG/$dev@$t"
    pgset "$f" "count $PKTGEN_COUNT"
    pgset "$f" "pkt_size $PKTGEN_PKT_SIZE"
    pgset "$f" "delay 0"
    [ "$PKTGEN_XMIT_MODE" = start_xmit ] || pgset "$f" "xmit_mode $PKTGEN_XMIT_MODE"
    pgset "$f" "clone_skb $PKTGEN_CLONE_SKB"
    pgset "$f" "burst $PKTGEN_BURST"
    pgset "$f" "dst 198.18.0.1"
    pgset "$f" "dst_mac $dst_mac"
    pgset "$f" "udp_src_min 9"
    pgset "$f" "udp_src_max 9"
    pgset "$f" "flag NO_TIMESTAMP"
    DEVS="$DEVS $dev@$t"
    t=$((t + 1))
  done
}

# Writing "start" to pgctrl returns when every thread is done.
pg_run() {
  if [ "$PKTGEN_DURATION" -gt 0 ]; then
    [ "$PKTGEN_COUNT" -eq 0 ] || die "PKTGEN_DURATION needs PKTGEN_COUNT=0"
    printf 'start\n' > "$PG/pgctrl" &
    run=$!
    sleep "$PKTGEN_DURATION"
    printf 'stop\n' > "$PG/pgctrl"
    wait "$run"
  else
    printf 'start\n' > "$PG/pgctrl" || die "pktgen start failed"
  fi
}

pg_collect() {
  for d in $DEVS; do cp "$PG/$d" "$KSCI_RESULTS/pktgen.$d" || die "no $PG/$d after the run"; done
  gov=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo none)
  {
    echo "kernel_release=$(uname -r)"
    echo "kernel_version=$(cat /proc/version)"
    echo "cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "cpus=$(nproc)"
    echo "governor=$gov"
  } > "$KSCI_RESULTS/env"
  pgset "$PG/pgctrl" reset
}

# pg_packets: packets sent, all threads together (pkts-sofar of each device).
pg_packets() {
  n=0
  for d in $DEVS; do n=$((n + $(sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p' "$KSCI_RESULTS/pktgen.$d"))); done
  echo "$n"
}
