// SPDX-License-Identifier: GPL-2.0
/*
 * pktgen-meta-bpf: the BPF side of the rx-meta scenario, without clang.
 *
 *   pktgen-meta-bpf attach IFNAME PINDIR   load both programs, attach them to IFNAME, pin the links and the map
 *   pktgen-meta-bpf stats PINDIR           print what the programs counted: meta_seen, meta_missing (tc), xdp_tagged, xdp_no_room (XDP)
 *   pktgen-meta-bpf detach PINDIR          unpin: the links go and the programs detach
 *
 * XDP (generic, skb mode) reserves 8 bytes of metadata in front of the packet
 * with bpf_xdp_adjust_meta() and writes a tag there; the tc ingress program
 * (tcx) finds the tag through __sk_buff->data_meta, counts it in a per-CPU
 * array and drops the packet. That is the path the packet-metadata work
 * changes: metadata written at XDP, carried in the skb, read at tc. Dropping
 * at tc keeps the rest of the stack out of the measurement, and the counters
 * prove every packet took that path (a scenario that measured a shortcut would
 * be worse than none).
 *
 * The XDP program is loaded with BPF_F_XDP_HAS_FRAGS. pktgen's skbs have too
 * little headroom for XDP, so generic XDP reallocates each one; for a program
 * without that flag it does so with pskb_expand_head(), which BUG()s on a
 * shared skb, and in netif_receive mode pktgen holds a reference to every skb
 * it injects. Seen here: "kernel BUG at net/core/skbuff.c:2267" under
 * do_xdp_generic on Debian's 6.12.117. With the flag the kernel copies the
 * packet into a page-pool skb instead (skb_pp_cow_data), a path that exists
 * for shared skbs.
 *
 * The tc program counts three outcomes: the tag found at data_meta, no
 * metadata at all, and metadata that holds other bytes. The last is what
 * 6.12.117 gives after that copy: __copy_skb_header() does not copy
 * skb->mac_len, so tcx pushes 0 bytes instead of the Ethernet header and
 * data_meta lands 14 bytes after where XDP wrote (tc read the source MAC and
 * EtherType there). The counters make such a kernel bug visible instead of
 * turning it into a throughput number.
 *
 * The programs are written as instructions, as the kernel's own test_verifier
 * tests are, so the guest needs neither clang nor libbpf: the host builds this
 * file statically with gcc.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/version.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The host's uapi headers may predate tcx (6.6); the ABI values are fixed. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 6, 0)
#define BPF_TCX_INGRESS 46
#endif

#define META_TAG 0x6b736369 /* "ksci" */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define LDX_DW(d, s, o) INSN(BPF_LDX | BPF_DW | BPF_MEM, d, s, o, 0)
#define STX_W(d, s, o) INSN(BPF_STX | BPF_W | BPF_MEM, d, s, o, 0)
#define STX_DW(d, s, o) INSN(BPF_STX | BPF_DW | BPF_MEM, d, s, o, 0)
#define ST_DW(d, o, i) INSN(BPF_ST | BPF_DW | BPF_MEM, d, 0, o, i)
#define JGT_REG(d, s, o) INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define JNE_REG(d, s, o) INSN(BPF_JMP | BPF_JNE | BPF_X, d, s, o, 0)
#define JNE_IMM(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JA(o) INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP_FD(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
/* counters[idx] += 1 in the per-CPU array map, idx a register; clobbers r0-r5. */
#define COUNT(idx, map)                                                                            \
	STX_W(BPF_REG_10, idx, -4), MOV64_REG(BPF_REG_2, BPF_REG_10), ADD64_IMM(BPF_REG_2, -4),     \
		LD_MAP_FD(BPF_REG_1, map), CALL(BPF_FUNC_map_lookup_elem), JEQ_IMM(BPF_REG_0, 0, 3), \
		LDX_DW(BPF_REG_1, BPF_REG_0, 0), ADD64_IMM(BPF_REG_1, 1), STX_DW(BPF_REG_0, BPF_REG_1, 0)

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static void die(const char *what)
{
	fprintf(stderr, "pktgen-meta-bpf: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char verifier_log[65536];

static int load(enum bpf_prog_type type, const struct bpf_insn *insns, size_t n, const char *name, unsigned int flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = n;
	a.license = (uintptr_t)"GPL";
	a.log_buf = (uintptr_t)verifier_log;
	a.log_size = sizeof(verifier_log);
	a.log_level = 1;
	a.prog_flags = flags;
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	int fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0) {
		fprintf(stderr, "pktgen-meta-bpf: the verifier refused %s: %s\n%s\n", name, strerror(errno), verifier_log);
		exit(1);
	}
	return fd;
}

static int link_create(int prog, int ifindex, int attach_type, int flags, const char *what)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = prog;
	a.link_create.target_ifindex = ifindex;
	a.link_create.attach_type = attach_type;
	a.link_create.flags = flags;
	int fd = sys_bpf(BPF_LINK_CREATE, &a);
	if (fd < 0)
		die(what);
	return fd;
}

static void pin(int fd, const char *dir, const char *name)
{
	char path[4096];
	union bpf_attr a;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	a.bpf_fd = fd;
	if (sys_bpf(BPF_OBJ_PIN, &a))
		die(path);
}

static int pinned(const char *dir, const char *name)
{
	char path[4096];
	union bpf_attr a;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	int fd = sys_bpf(BPF_OBJ_GET, &a);
	if (fd < 0)
		die(path);
	return fd;
}

static int attach(const char *ifname, const char *dir)
{
	int ifindex = if_nametoindex(ifname);
	if (!ifindex)
		die(ifname);

	union bpf_attr m;
	memset(&m, 0, sizeof(m));
	m.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
	m.key_size = 4;
	m.value_size = 8;
	m.max_entries = 5; /* tc: 0 tag seen, 1 no metadata, 4 other metadata; xdp: 2 tagged, 3 no room */
	int map = sys_bpf(BPF_MAP_CREATE, &m);
	if (map < 0)
		die("creating the counter map");

	const struct bpf_insn xdp[] = {
		MOV64_REG(BPF_REG_6, BPF_REG_1),
		MOV64_IMM(BPF_REG_2, -8),
		CALL(BPF_FUNC_xdp_adjust_meta),
		MOV64_IMM(BPF_REG_7, 3), /* counter index: no room for metadata */
		JNE_IMM(BPF_REG_0, 0, 7),
		LDX_W(BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data)),
		LDX_W(BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_meta)),
		MOV64_REG(BPF_REG_4, BPF_REG_3),
		ADD64_IMM(BPF_REG_4, 8),
		JGT_REG(BPF_REG_4, BPF_REG_2, 2),
		ST_DW(BPF_REG_3, 0, META_TAG),
		MOV64_IMM(BPF_REG_7, 2), /* tagged */
		COUNT(BPF_REG_7, map),
		MOV64_IMM(BPF_REG_0, XDP_PASS),
		EXIT(),
	};
	const struct bpf_insn tc[] = {
		LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct __sk_buff, data)),
		LDX_W(BPF_REG_3, BPF_REG_1, offsetof(struct __sk_buff, data_meta)),
		MOV64_IMM(BPF_REG_1, 1), /* counter index: no metadata */
		MOV64_REG(BPF_REG_4, BPF_REG_3),
		ADD64_IMM(BPF_REG_4, 8),
		JGT_REG(BPF_REG_4, BPF_REG_2, 5),
		MOV64_IMM(BPF_REG_1, 4), /* metadata, but not the tag */
		LDX_DW(BPF_REG_5, BPF_REG_3, 0),
		MOV64_IMM(BPF_REG_4, META_TAG),
		JNE_REG(BPF_REG_5, BPF_REG_4, 1),
		MOV64_IMM(BPF_REG_1, 0),
		COUNT(BPF_REG_1, map),
		MOV64_IMM(BPF_REG_0, TC_ACT_SHOT),
		EXIT(),
	};
	int xdp_prog = load(BPF_PROG_TYPE_XDP, xdp, sizeof(xdp) / sizeof(xdp[0]), "ksci_meta_xdp", BPF_F_XDP_HAS_FRAGS);
	int tc_prog = load(BPF_PROG_TYPE_SCHED_CLS, tc, sizeof(tc) / sizeof(tc[0]), "ksci_meta_tc", 0);

	if (mkdir(dir, 0700) && errno != EEXIST)
		die(dir);
	pin(map, dir, "counters");
	pin(link_create(xdp_prog, ifindex, BPF_XDP, XDP_FLAGS_SKB_MODE, "attaching XDP (generic) to the device"), dir, "xdp");
	pin(link_create(tc_prog, ifindex, BPF_TCX_INGRESS, 0, "attaching the tc program (tcx ingress)"), dir, "tc");
	return 0;
}

static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int lo = 0, hi = 0;

	if (!f)
		die("/sys/devices/system/cpu/possible");
	/* "0" or "0-N": the per-CPU map has one value per possible CPU. */
	int n = fscanf(f, "%d-%d", &lo, &hi);
	fclose(f);
	return n == 2 ? hi + 1 : lo + 1;
}

static int stats(const char *dir)
{
	int map = pinned(dir, "counters"), ncpu = possible_cpus();
	unsigned long long total[5] = { 0, 0, 0, 0, 0 };
	uint64_t *values = calloc(ncpu, sizeof(*values));

	if (!values)
		die("calloc");
	for (uint32_t key = 0; key < 5; key++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_fd = map;
		a.key = (uintptr_t)&key;
		a.value = (uintptr_t)values;
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a))
			die("reading the counters");
		for (int c = 0; c < ncpu; c++)
			total[key] += values[c];
	}
	printf("meta_seen=%llu\nmeta_missing=%llu\nmeta_other=%llu\nxdp_tagged=%llu\nxdp_no_room=%llu\n", total[0], total[1], total[4], total[2], total[3]);
	return 0;
}

static int detach(const char *dir)
{
	static const char *const names[] = { "tc", "xdp", "counters" };
	char path[4096];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) && errno != ENOENT)
			die(path);
	}
	rmdir(dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "attach"))
		return attach(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "stats"))
		return stats(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "detach"))
		return detach(argv[2]);
	fprintf(stderr, "usage: pktgen-meta-bpf attach IFNAME PINDIR | stats PINDIR | detach PINDIR\n");
	return 2;
}
