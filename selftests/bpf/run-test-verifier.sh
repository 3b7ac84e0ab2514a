#!/bin/sh
# Runs test_verifier the way BPF CI does. It loads bpf_testmod.ko from its
# directory (the build stage builds it against this kernel) and exits at once
# without it. A retry runs the whole table again: test_verifier selects
# entries only by number, and ksci names them by description ($KSCI_ONLY is
# not used).
set -e
cd /ksci/suite/bpf-selftests
exec ./test_verifier
