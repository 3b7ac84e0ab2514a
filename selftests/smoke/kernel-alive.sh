#!/bin/sh
# The kernel answers about itself and did not taint on the way to userspace.
set -e
cat /proc/version
taint=$(cat /proc/sys/kernel/tainted)
echo "tainted: $taint"
[ "$taint" = 0 ] || { echo "FAIL: the kernel is tainted ($taint) before any test ran"; exit 1; }
