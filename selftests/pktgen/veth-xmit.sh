#!/bin/sh
# TX into one end of a veth pair: the packet crosses to the peer and goes up
# its RX path (netif_rx, the backlog, __netif_receive_skb) before it is
# dropped for a foreign MAC. veth cannot share skbs, so clone_skb must be 0.
. ./lib.sh
[ "$PKTGEN_CLONE_SKB" -eq 0 ] || die "veth cannot send shared skbs: PKTGEN_CLONE_SKB must be 0"
"$IP" link del ksci-veth0 2>/dev/null
modprobe veth 2>/dev/null
"$IP" link add ksci-veth0 type veth peer name ksci-veth1 || die "cannot create a veth pair (CONFIG_VETH)"
"$IP" link set ksci-veth1 up && "$IP" link set ksci-veth0 up || die "cannot bring the veth pair up"
pg_setup ksci-veth0
pg_run
pg_collect
"$IP" link del ksci-veth0
