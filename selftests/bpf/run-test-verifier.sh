#!/bin/sh
# Runs test_verifier the way BPF CI does. It loads bpf_testmod.ko from its
# directory (the build stage builds it against this kernel) and exits at once
# without it. A retry runs the whole table again: test_verifier selects
# entries only by number, and ksci names them by description ($KSCI_ONLY is
# not used).
set -e
# The unprivileged half of the table (each entry is also run without
# CAP_SYS_ADMIN, checking e.g. pointer leaks and Spectre masking) needs
# unprivileged BPF, off by default (CONFIG_BPF_UNPRIV_DEFAULT_OFF sets 2,
# which root may still change; 1 could not be undone). A VM of its own.
echo 0 > /proc/sys/kernel/unprivileged_bpf_disabled
cd /ksci/suite/bpf-selftests
exec ./test_verifier
