#!/bin/sh
# RX with packet metadata: pktgen's netif_receive mode hands each packet to
# netif_receive_skb on a dummy device, where a generic XDP program writes 8
# bytes of metadata (bpf_xdp_adjust_meta) and a tc ingress program reads
# them from the skb and drops the packet (see pktgen-meta-bpf.c). The run
# fails unless every packet reached tc carrying that metadata.
. ./lib.sh
[ "$PKTGEN_CLONE_SKB" -eq 0 ] || die "netif_receive mode needs PKTGEN_CLONE_SKB=0"
PKTGEN_XMIT_MODE=netif_receive
command -v pktgen-meta-bpf >/dev/null || die "pktgen-meta-bpf is not on PATH (the runner ships it)"
pins=/sys/fs/bpf/ksci-rx-meta
"$IP" link del ksci-rx0 2>/dev/null
pktgen-meta-bpf detach "$pins" 2>/dev/null
modprobe dummy 2>/dev/null
"$IP" link add ksci-rx0 type dummy || die "cannot create a dummy device (CONFIG_DUMMY)"
"$IP" link set ksci-rx0 up || die "cannot bring ksci-rx0 up"
pktgen-meta-bpf attach ksci-rx0 "$pins" || die "cannot attach the BPF programs"
pg_setup ksci-rx0
pg_run
pg_collect
stats=$(pktgen-meta-bpf stats "$pins") || die "cannot read the BPF counters"
echo "$stats" > "$KSCI_RESULTS/meta-counters"
pktgen-meta-bpf detach "$pins"
"$IP" link del ksci-rx0
# Every packet must reach tc with the 8 bytes of metadata XDP reserved;
# whether they still hold XDP's tag is reported, not required: on 6.12 they do
# not when generic XDP had to copy the skb (pktgen's skbs lack XDP headroom)
# and the copy lost mac_len, so tc's data_meta points 14 bytes off (see
# pktgen-meta-bpf.c).
counter() { echo "$stats" | sed -n "s/^$1=//p"; }
sent=$(pg_packets)
carried=$(( $(counter meta_seen) + $(counter meta_other) ))
[ "$carried" = "$sent" ] || die "tc found XDP's metadata on $carried of $sent packets: the run did not measure the metadata path ($(echo $stats))"
[ "$(counter meta_other)" = 0 ] || echo "warning: on $(counter meta_other) of $sent packets tc read other bytes at data_meta than XDP wrote there"
