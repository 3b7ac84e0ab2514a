#!/usr/bin/env bash
# Prints the path of a bootable prebuilt x86_64 kernel for the VM tests:
# Debian's newest linux-image-6.12.*-amd64-unsigned, downloaded once with
# `apt-get download` (no install, no root needed for the download itself)
# and kept in ~/.cache/ksci/kernels. Lets the VM tests boot a real 6.12
# kernel without an 18-minute build. Beside it, modules-<release>/ holds
# the few modules the pktgen scenarios need (Debian builds them as =m),
# decompressed for busybox's insmod, in load order (modules.list).
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ksci/kernels"
mkdir -p "$cache"
modules="kernel/net/core/pktgen.ko kernel/drivers/net/dummy.ko kernel/drivers/net/veth.ko"
existing=$(ls -1 "$cache"/vmlinuz-6.12.*-amd64 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$existing" ] && [ -s "$cache/modules-${existing##*/vmlinuz-}/modules.list" ] && [ -z "${KSCI_REFRESH_TEST_KERNEL:-}" ]; then echo "$existing"; exit 0; fi
find_pkg() { apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -1; }
pkg=$(find_pkg)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
  apt-get update -q >&2 && pkg=$(find_pkg)
fi
if [ -z "$pkg" ]; then
  echo "ksci: no linux-image-6.12.*-amd64-unsigned in the apt sources; run apt-get update, or set KSCI_TEST_KERNEL to a bzImage" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg" >&2)
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './boot/config-*' \
  $(for m in $modules; do echo "./lib/modules/*/$m.xz"; done)
release=$(ls "$work/lib/modules")
mdir="$cache/modules-$release"
rm -rf "$mdir" && mkdir -p "$mdir"
for m in $modules; do
  xz -dc "$work/lib/modules/$release/$m.xz" > "$mdir/$(basename "$m")"
  echo "$mdir/$(basename "$m")" >> "$mdir/modules.list"
done
for f in "$work"/boot/*; do mv "$f" "$cache/"; done
ls -1 "$cache"/vmlinuz-6.12.*-amd64 | sort -V | tail -1
