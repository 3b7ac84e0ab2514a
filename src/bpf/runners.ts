/**
 * The BPF selftest runners the selftests Makefile can build, each a `make`
 * target of that name. A flavour (test_progs-no_alu32: BPF programs built
 * without 32-bit subregisters; -cpuv4: with the v4 ISA) is test_progs run
 * from its own subdirectory of objects.
 */
export const RUNNERS = ['test_progs', 'test_progs-no_alu32', 'test_progs-cpuv4', 'test_verifier', 'test_maps'] as const;
export type Runner = (typeof RUNNERS)[number];
