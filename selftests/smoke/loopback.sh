#!/bin/sh
# Loopback carries packets: the IP stack works (CONFIG_INET).
grep -qw lo /proc/net/dev || { echo "SKIP: no network stack"; exit 4; }
ip addr show lo
ping -c 3 -W 2 127.0.0.1
