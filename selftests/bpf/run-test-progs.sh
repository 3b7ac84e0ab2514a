#!/bin/sh
# Runs test_progs (or the flavour $RUNNER, e.g. test_progs-no_alu32) the way
# BPF CI does: the deny lists of this directory (common, then this arch, then
# this tree), results as -J JSON for ksci. Arguments select tests (-t xdp); a
# retry passes the failed tests in $KSCI_ONLY instead.
set -e
# test_progs runs ip and tc through /bin/sh: with busybox's sh that would be
# busybox's own ip applet, which lacks what the tests use (veth peers...).
ln -sf /usr/bin/dash /bin/sh
# Debian's ip keeps network namespaces in /run/netns; test_progs opens /var/run/netns.
mkdir -p /var && ln -sfn /run /var/run
lists=""
for f in /ksci/suite/DENYLIST "/ksci/suite/DENYLIST.$(uname -m)" "/ksci/suite/DENYLIST.${KSCI_TREE:-none}"; do
  if [ -f "$f" ]; then lists="$lists -d@$f"; fi
done
runner=${RUNNER:-test_progs}
case "$runner" in test_progs | test_progs-*) ;; *) echo "RUNNER=$runner is not a test_progs runner" >&2; exit 2 ;; esac
# A flavour changes into its own subdirectory of objects itself (by its name).
cd /ksci/suite/bpf-selftests
if [ -n "$KSCI_ONLY" ]; then
  exec "./$runner" $lists -a@"$KSCI_ONLY" -J "$KSCI_RESULTS/test_progs.json"
fi
exec "./$runner" $lists "$@" -J "$KSCI_RESULTS/test_progs.json"
