#!/bin/sh
# TX into a dummy device: pktgen -> dev_queue_xmit's driver call -> dummy,
# which frees the skb. With clone_skb 0 every packet is a fresh allocation,
# the cost the packet-metadata work must not raise. PKTGEN_DEV (default
# dummy0) is created when the kernel did not make it at boot.
. ./lib.sh
dev=${PKTGEN_DEV:-dummy0}
[ -d "/sys/class/net/$dev" ] || { modprobe dummy 2>/dev/null; [ -d "/sys/class/net/$dev" ] || "$IP" link add "$dev" type dummy; } || die "cannot create $dev"
"$IP" link set "$dev" up || die "cannot bring $dev up"
pg_setup "$dev"
pg_run
pg_collect
