#!/bin/sh
# The file systems the init mounts for tests are there when the kernel has them.
fail=0
for fs in proc sysfs devtmpfs tmpfs; do
  grep -q " $fs " /proc/mounts || { echo "FAIL: no $fs mounted"; fail=1; }
done
if grep -qw bpf /proc/filesystems; then
  grep -q ' /sys/fs/bpf bpf ' /proc/mounts || { echo "FAIL: the kernel has bpffs but /sys/fs/bpf is not mounted"; fail=1; }
else
  echo "no bpffs in this kernel (CONFIG_BPF_SYSCALL off)"
fi
cat /proc/mounts
exit $fail
