/**
 * A deterministic results database for the web dashboard's API tests,
 * browser tests and benchmark: series (lineages of 1-3 versions from lore
 * and a few GitHub PRs), their runs with every stage's outcome, test results
 * of both kernels, perf samples, a year of nightly throughput with two
 * planted change points, and the alerts the real detector raises on them.
 *
 * The rows have the shapes the pipeline writes: stage outcomes are built
 * with the stages' own pure helpers (applyOutcome, buildResult, compareRuns,
 * analyzeAb, renderReport, testResultRows, perfSampleRows...) and every
 * stage's data is parsed with its schema, so a schema change breaks this
 * generator loudly instead of leaving the dashboard tests on stale data.
 * The same seed gives the same database. The bulk rows go in batches of
 * 2,000 a statement inside one transaction (see Sink); for a big set they
 * are made in a worker thread while this one inserts. The nightly points
 * and the alerts go through ResultsStore, as production records them.
 */
import { createHash } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { analyzeAb, sessionOrder, type AbRun, type PerfSample } from '../perf/ab.js';
import { detectChangePoints, pendingAlerts, type HistoryPoint } from '../perf/changepoint.js';
import { changePointOptions, currentSeries, nightlyAlertText } from '../perf/nightly.js';
import { CLOCK_THRESHOLDS, perfScenarios } from '../perf/plan.js';
import type { PerfScenario } from '../perf/runner.js';
import type { SequentialThresholds } from '../perf/sequential.js';
import { median } from '../perf/stats.js';
import {
  RunBuildSchema,
  SeriesSchema,
  StageOutcomeSchema,
  summarizeSeries,
  type RunBuild,
  type RunContext,
  type StageOutcome,
} from '../pipeline/payload.js';
import type { StageResult } from '../pipeline/stage.js';
import { seededRng } from '../random.js';
import { titleLineage } from '../series/lineage.js';
import type { DiffFile, Patch, Person, Series, SubjectInfo, Trailer } from '../series/types.js';
import { ApplyData, applyDetails } from '../stages/apply/result.js';
import { applyOutcome } from '../stages/apply/stage.js';
import { BuildStageDataSchema, buildDetails, type BuildStageData } from '../stages/build/result.js';
import { buildResult } from '../stages/build/stage.js';
import {
  PerfStageDataSchema,
  newSplats,
  perfDetails,
  perfFailed,
  perfSampleRows,
  perfSummary,
  type PerfSuiteData,
} from '../stages/perf/result.js';
import { renderReport, type DetailRenderer, type Report } from '../stages/report/render.js';
import { ReportSchema } from '../stages/report/schema.js';
import {
  TestStageDataSchema,
  suiteFailed,
  suiteSummary,
  testDetails,
  testResultRows,
  type SuiteRunData,
} from '../stages/test/result.js';
import { reproducer } from '../stages/test/stage.js';
import type { Db } from '../store/db.js';
import { ResultsStore } from '../store/results.js';
import { loadSuite, suitesDir, type Suite } from '../suite/suite.js';
import { compareRuns, type BaseStability } from '../vm/compare.js';
import type { TestResult } from '../vm/history.js';
import type { SplatSummary, TestStatus } from '../vm/outcome.js';

export interface DashboardDataOptions {
  /** Default 1; the same seed gives the same data. */
  seed?: number;
  /** Number of series (lineages); each has 1-3 versions, each version one run (some two: a retest). */
  series: number;
  /** test_results rows per run that finished its test stage, split base/series kernels (10: 5 tests x 2 kernels); at least 10. */
  testsPerRun: number;
  /** Days of nightly history per (tree, scenario). */
  nightlyDays: number;
  /** Nightly scenarios per tree (suite/scenario names); at least 2. */
  scenarios: number;
  /** Default 2026-12-01T00:00:00Z; everything is in the year before it. */
  now?: Date;
}

export interface DashboardData {
  trees: string[];
  /** Lore lists; runs of lore series have requested_by = `lore:<list>` (a forced retest: 'cli'). */
  lists: string[];
  seriesIds: number[];
  runIds: string[];
  /** A finished failing run with a new test failure (with its output excerpt), a new splat (fingerprint) and a reproducer. */
  failingRunId: string;
  /**
   * A run whose apply, build and test stages passed and whose perf stage (A/B samples per round in
   * perf_samples) decided a regression on one scenario. A regression fails the perf stage, so the run is 'failed'.
   */
  perfRunId: string;
  /** A series whose title and a failing test's output contain `<script>alert(1)</script>` and `"><img src=x onerror=alert(2)>`. */
  hostileSeriesId: number;
  hostileRunId: string;
  /** A run still 'running' (so it can be cancelled). */
  runningRunId: string;
  /** The two planted nightly change points, as the real detector found and recorded them (perf_alerts rows). */
  changePoints: {
    tree: string;
    scenario: string;
    lastGood: string;
    firstChanged: string;
    direction: 'regression' | 'improvement';
  }[];
  /** Tests that flip between pass and fail on the base kernel of one tree (flaky), and one failing for the last N runs. */
  flakyTests: { tree: string; suite: string; test: string }[];
  alwaysFailing: { tree: string; suite: string; test: string; streak: number };
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const STAGES = ['apply', 'build', 'test', 'perf', 'report'] as const;
type StageName = (typeof STAGES)[number];

export const HOSTILE_SCRIPT = '<script>alert(1)</script>';
export const HOSTILE_IMG = '"><img src=x onerror=alert(2)>';

// ---------------------------------------------------------------------------------------------------------------------------------
// Randomness

class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRng(seed);
  }
  float(): number {
    return this.next();
  }
  /** lo..hi inclusive */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  weighted<T extends string>(w: Record<T, number>): T {
    const entries = Object.entries(w) as [T, number][];
    let x = this.next() * entries.reduce((s, [, v]) => s + v, 0);
    for (const [k, v] of entries) if ((x -= v) < 0) return k;
    return entries[entries.length - 1]![0];
  }
  hex(n: number): string {
    let s = '';
    while (s.length < n)
      s += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    return s.slice(0, n);
  }
  /** A version-4-shaped UUID from the stream. */
  uuid(): string {
    const h = this.hex(32);
    const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  sample<T>(xs: readonly T[], n: number): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a.slice(0, n);
  }
}

// ---------------------------------------------------------------------------------------------------------------------------------
// Content pools

interface Area {
  prefix: string;
  files: string[];
  fns: string[];
  phrases: string[];
}

const GENERIC_PHRASES = [
  'fix use-after-free in {fn}',
  'avoid a data race in {fn}',
  'fix a memory leak on the error path of {fn}',
  'remove a redundant NULL check in {fn}',
  'fix an off-by-one in {fn}',
  'annotate lockless accesses in {fn}',
  'handle -ENOMEM in {fn}',
  'reduce lock contention in {fn}',
  'inline {fn} on the fast path',
  'add a tracepoint to {fn}',
  'convert {fn} to RCU',
  'return -EOPNOTSUPP from {fn} for unsupported flags',
  'fix a refcount leak in {fn}',
  'do not warn in {fn} on a detached device',
  'split {fn} into its slow and fast paths',
];

const AREAS: Record<'net-next' | 'bpf-next', Area[]> = {
  'net-next': [
    {
      prefix: 'net: skb',
      files: ['net/core/skbuff.c', 'include/linux/skbuff.h'],
      fns: ['skb_ext_add', '__skb_ext_alloc', 'skb_ext_del', 'pskb_expand_head', '__alloc_skb', 'skb_segment'],
      phrases: ['add skb_ext backed by BPF local storage', 'move skb metadata into an skb extension'],
    },
    {
      prefix: 'net',
      files: ['net/core/dev.c', 'include/linux/netdevice.h'],
      fns: ['__netif_receive_skb_core', 'netif_receive_skb_list_internal', '__dev_queue_xmit', 'napi_gro_receive'],
      phrases: ['convert the RX path to netdev_lock', 'add per-queue NAPI statistics'],
    },
    {
      prefix: 'tcp',
      files: ['net/ipv4/tcp_input.c', 'net/ipv4/tcp_output.c', 'include/net/tcp.h'],
      fns: ['tcp_rcv_established', 'tcp_ack', 'tcp_sendmsg_locked', 'tcp_clean_rtx_queue'],
      phrases: ['defer the ACK of small packets under memory pressure', 'add TCP_INFO fields for the RACK timer'],
    },
    {
      prefix: 'udp',
      files: ['net/ipv4/udp.c', 'net/ipv6/udp.c', 'net/ipv4/udp_offload.c'],
      fns: ['udp_gro_receive', 'udp_rcv', '__udp_enqueue_schedule_skb'],
      phrases: ['support GRO for UDP tunnels over veth'],
    },
    {
      prefix: 'ipv6',
      files: ['net/ipv6/route.c', 'net/ipv6/ip6_output.c'],
      fns: ['ip6_finish_output2', 'rt6_lookup', 'ip6_route_input'],
      phrases: ['drop the RTNL from route dumps'],
    },
    {
      prefix: 'veth',
      files: ['drivers/net/veth.c'],
      fns: ['veth_xdp_rcv', 'veth_xmit', 'veth_xdp_rcv_skb', 'veth_poll'],
      phrases: ['pass XDP metadata to the peer skb', 'support the XDP RX metadata kfuncs'],
    },
    {
      prefix: 'virtio_net',
      files: ['drivers/net/virtio_net.c'],
      fns: ['receive_mergeable', 'virtnet_poll', 'virtnet_xdp_xmit'],
      phrases: ['add XDP RX hash metadata'],
    },
    {
      prefix: 'net/mlx5e',
      files: ['drivers/net/ethernet/mellanox/mlx5/core/en_rx.c', 'drivers/net/ethernet/mellanox/mlx5/core/en/xdp.c'],
      fns: ['mlx5e_xdp_handle', 'mlx5e_skb_from_cqe_mpwrq_linear', 'mlx5e_poll_rx_cq'],
      phrases: ['support header-data split for XDP multi-buffer'],
    },
    {
      prefix: 'ice',
      files: ['drivers/net/ethernet/intel/ice/ice_txrx.c', 'drivers/net/ethernet/intel/ice/ice_xsk.c'],
      fns: ['ice_clean_rx_irq', 'ice_xmit_zc', 'ice_alloc_rx_bufs'],
      phrases: ['switch to page_pool for the RX rings'],
    },
    {
      prefix: 'page_pool',
      files: ['net/core/page_pool.c', 'include/net/page_pool/types.h'],
      fns: ['page_pool_alloc_frag', 'page_pool_put_unrefed_netmem', 'page_pool_release_retry'],
      phrases: ['introduce netmem_desc'],
    },
    {
      prefix: 'netfilter: nf_tables',
      files: ['net/netfilter/nf_tables_api.c', 'net/netfilter/nft_set_pipapo.c'],
      fns: ['nft_set_elem_expr_setup', 'nf_tables_newrule', 'pipapo_lookup'],
      phrases: ['add a flowtable offload counter'],
    },
    {
      prefix: 'net: ethtool',
      files: ['net/ethtool/ioctl.c', 'net/ethtool/netlink.c'],
      fns: ['ethtool_get_rxnfc', 'ethnl_default_doit'],
      phrases: ['add a netlink command for RSS contexts'],
    },
  ],
  'bpf-next': [
    {
      prefix: 'bpf',
      files: ['kernel/bpf/helpers.c', 'include/uapi/linux/bpf.h', 'tools/include/uapi/linux/bpf.h'],
      fns: ['bpf_dynptr_from_skb_meta', 'bpf_dynptr_slice', 'bpf_obj_new_impl', 'bpf_dynptr_write'],
      phrases: ['add bpf_dynptr_from_skb_meta', 'allow a dynptr over the skb metadata from tc programs'],
    },
    {
      prefix: 'bpf',
      files: ['kernel/bpf/verifier.c', 'include/linux/bpf_verifier.h'],
      fns: ['check_mem_access', 'mark_chain_precision', 'check_kfunc_call', 'check_stack_write_fixed_off'],
      phrases: ['track the precision of spilled stack slots', 'support may_goto in subprograms'],
    },
    {
      prefix: 'bpf',
      files: ['kernel/bpf/bpf_local_storage.c', 'net/core/bpf_sk_storage.c'],
      fns: ['bpf_local_storage_update', 'bpf_sk_storage_get', 'bpf_local_storage_alloc'],
      phrases: ['make local storage allocation non-sleepable', 'add bpf_local_storage for skbs'],
    },
    {
      prefix: 'bpf',
      files: ['net/core/filter.c', 'include/linux/filter.h'],
      fns: ['bpf_skb_adjust_room', 'bpf_xdp_adjust_meta', 'bpf_skb_meta_store'],
      phrases: ['let XDP programs write skb metadata that survives XDP_PASS', 'add a kfunc to read skb metadata'],
    },
    {
      prefix: 'bpf, sockmap',
      files: ['net/core/sock_map.c', 'net/core/skmsg.c'],
      fns: ['sk_psock_verdict_apply', 'sock_map_update_common'],
      phrases: ['support redirect to a vsock'],
    },
    {
      prefix: 'libbpf',
      files: ['tools/lib/bpf/libbpf.c', 'tools/lib/bpf/btf.c'],
      fns: ['bpf_object__load', 'btf__dedup', 'bpf_program__attach_tcx'],
      phrases: ['add bpf_program__attach_netkit_opts'],
    },
    {
      prefix: 'bpftool',
      files: ['tools/bpf/bpftool/prog.c', 'tools/bpf/bpftool/gen.c'],
      fns: ['do_show', 'codegen_subskel'],
      phrases: ['print the tc attach points of programs'],
    },
    {
      prefix: 'bpf, x86',
      files: ['arch/x86/net/bpf_jit_comp.c'],
      fns: ['do_jit', 'emit_call', 'emit_bpf_tail_call_direct'],
      phrases: ['inline bpf_get_smp_processor_id', 'support private stacks for subprograms'],
    },
    {
      prefix: 'bpf: arena',
      files: ['kernel/bpf/arena.c'],
      fns: ['arena_alloc_pages', 'arena_vm_fault'],
      phrases: ['support 32-bit atomics in arena'],
    },
  ],
};

const SELFTEST_FILES: Record<'net-next' | 'bpf-next', string[]> = {
  'net-next': ['tools/testing/selftests/net/Makefile', 'tools/testing/selftests/net/veth.sh'],
  'bpf-next': [
    'tools/testing/selftests/bpf/prog_tests/xdp_metadata.c',
    'tools/testing/selftests/bpf/progs/xdp_metadata.c',
    'tools/testing/selftests/bpf/prog_tests/dynptr.c',
  ],
};

const FIRST = [
  'Alice',
  'Bogdan',
  'Chen',
  'Daniela',
  'Emil',
  'Fatima',
  'Gustavo',
  'Hana',
  'Ivan',
  'Jun',
  'Katarzyna',
  'Lars',
  'Maryam',
  'Nikhil',
  'Olga',
  'Pedro',
  'Qiang',
  'Rosa',
  'Stefan',
  'Tomoko',
  'Uwe',
  'Valentina',
  'Wei',
  'Yusuf',
];
const LAST = [
  'Kowalski',
  'Petrescu',
  'Zhang',
  'Moreau',
  'Lindqvist',
  'Haddad',
  'Oliveira',
  'Novak',
  'Sato',
  'Krishnan',
  'Brandt',
  'Ferreira',
  'Ivanova',
  'Okafor',
  'Larsen',
  'Tanaka',
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'dev.example.org'];

/** BPF selftests (test_progs) the bulk runs pick from; two of them always skip (their modules are not in the config). */
const BPF_POOL = [
  'xdp_adjust_tail',
  'xdp_attach',
  'xdp_bonding',
  'xdp_context_test_run',
  'xdp_do_redirect',
  'xdp_features',
  'xdp_flowtable',
  'xdp_link',
  'xdp_synproxy',
  'xdpwall',
  'tc_links',
  'tc_netkit',
  'tc_redirect',
  'bpf_iter',
  'sockmap_basic',
  'sockmap_listen',
  'task_local_storage',
  'cgrp_local_storage',
  'kfunc_call',
  'bpf_nf',
  'tcp_custom_syncookie',
  'test_skb_pkt_end',
  'skb_ctx',
  'decap_sanity',
  'lwt_seg6local',
  'fexit_bpf2bpf',
  'ringbuf',
  'map_kptr',
  'rbtree_success',
  'arena_htab',
].map((t) => `test_progs:${t}`);
const ALWAYS_SKIPPED = new Set(['test_progs:xdp_bonding', 'test_progs:tc_netkit']);
const FLAKY = ['test_progs:tc_opts', 'test_progs:lwt_redirect', 'test_progs:sk_storage_tracing'];
const ALWAYS_FAILING = 'test_progs:local_storage';
const FAILING_TEST = 'test_progs:xdp_metadata';
const HOSTILE_TEST = 'test_progs:dynptr';

const NIGHTLY_SCENARIOS = [
  'dummy-xmit',
  'veth-xmit',
  'rx-meta',
  'veth-xdp-drop',
  'veth-xdp-pass',
  'veth-xdp-tx',
  'dummy-xmit-burst',
  'dummy-xmit-clone',
  'rx-meta-gro',
  'lo-xmit',
];

interface SplatSpec {
  kind: string;
  title: string;
  fingerprint: string;
  /** The console lines: the header, then the call trace's functions (innermost first). */
  head: string[];
  frames: string[];
}

const KASAN_INCIDENT: SplatSpec = {
  kind: 'kasan',
  title: 'KASAN: slab-use-after-free Read in skb_ext_add',
  fingerprint: 'kasan: slab-use-after-free Read | skb_ext_add < bpf_skb_meta_store < tcf_bpf_act',
  head: [
    '==================================================================',
    'BUG: KASAN: slab-use-after-free in skb_ext_add+0x1c4/0x3a0',
    'Read of size 8 at addr {addr} by task test_progs/{pid}',
  ],
  frames: ['skb_ext_add', 'bpf_skb_meta_store', 'tcf_bpf_act', 'tcf_action_exec', 'tc_run', '__dev_queue_xmit'],
};

const ONE_OFF_SPLATS: SplatSpec[] = [
  {
    kind: 'warning',
    title: 'WARNING in __netif_receive_skb_core (net/core/dev.c:5612)',
    fingerprint: 'warning | __netif_receive_skb_core < netif_receive_skb_list_internal < napi_complete_done',
    head: [
      '------------[ cut here ]------------',
      'WARNING: CPU: 0 PID: {pid} at net/core/dev.c:5612 __netif_receive_skb_core+0x9f1/0x1a40',
    ],
    frames: ['__netif_receive_skb_core', 'netif_receive_skb_list_internal', 'napi_complete_done', 'veth_poll'],
  },
  {
    kind: 'oops',
    title: 'BUG: kernel NULL pointer dereference in veth_xdp_rcv_skb',
    fingerprint: 'oops: BUG: kernel NULL pointer dereference | veth_xdp_rcv_skb < veth_xdp_rcv < veth_poll',
    head: [
      'BUG: kernel NULL pointer dereference, address: 0000000000000010',
      '#PF: supervisor read access in kernel mode',
    ],
    frames: ['veth_xdp_rcv_skb', 'veth_xdp_rcv', 'veth_poll', '__napi_poll', 'net_rx_action'],
  },
  {
    kind: 'lockdep',
    title: 'WARNING: possible circular locking dependency detected in bpf_local_storage_update',
    fingerprint:
      'lockdep: possible circular locking dependency detected | bpf_local_storage_update < bpf_sk_storage_get < bpf_prog_run',
    head: [
      '======================================================',
      'WARNING: possible circular locking dependency detected',
    ],
    frames: ['bpf_local_storage_update', 'bpf_sk_storage_get', 'bpf_prog_run', 'bpf_trace_run2'],
  },
  {
    kind: 'kfence',
    title: 'KFENCE: out-of-bounds read in bpf_xdp_adjust_meta',
    fingerprint: 'kfence: out-of-bounds read | bpf_xdp_adjust_meta < bpf_prog_run_xdp < veth_xdp_rcv_one',
    head: [
      '==================================================================',
      'BUG: KFENCE: out-of-bounds read in bpf_xdp_adjust_meta+0x5e/0x120',
    ],
    frames: ['bpf_xdp_adjust_meta', 'bpf_prog_run_xdp', 'veth_xdp_rcv_one', 'veth_xdp_rcv'],
  },
  {
    kind: 'soft-lockup',
    title: 'BUG: soft lockup in page_pool_release_retry (stuck for 26s)',
    fingerprint: 'soft-lockup: soft lockup | page_pool_release_retry < process_one_work < worker_thread',
    head: ['watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [kworker/0:2:{pid}]'],
    frames: ['page_pool_release_retry', 'process_one_work', 'worker_thread', 'kthread'],
  },
  {
    kind: 'bug',
    title: 'BUG: sleeping function called from invalid context in bpf_map_kmalloc_node',
    fingerprint:
      'bug: sleeping function called from invalid context | bpf_map_kmalloc_node < bpf_local_storage_alloc < bpf_sk_storage_get',
    head: ['BUG: sleeping function called from invalid context at mm/slub.c:4131'],
    frames: ['bpf_map_kmalloc_node', 'bpf_local_storage_alloc', 'bpf_sk_storage_get', 'bpf_prog_run'],
  },
];

// ---------------------------------------------------------------------------------------------------------------------------------
// Plans

type RunKind =
  | 'pass'
  | 'fail-test'
  | 'fail-splat'
  | 'fail-build'
  | 'fail-apply'
  | 'error-build'
  | 'error-test'
  | 'cancelled'
  | 'running';
type Special = 'failing' | 'perf' | 'hostile' | 'running';

interface LineagePlan {
  tree: 'net-next' | 'bpf-next';
  list: string;
  area: Area;
  author: Person;
  title: string;
  isRfc: boolean;
  github: { repo: string; number: number; login: string } | null;
  changeId: string | null;
  lineage: string;
  versions: VersionPlan[];
  special: Special | null;
}

interface VersionPlan {
  lineage: LineagePlan;
  version: number;
  createdAt: number;
  series: Series;
  seriesId: number;
  sourceRef: string;
  runs: RunPlan[];
}

interface Window {
  start: number;
  end: number;
}

interface RunPlan {
  id: string;
  v: VersionPlan;
  kind: RunKind;
  special: Special | null;
  perf: boolean;
  createdAt: number;
  startedAt: number;
  requestedBy: string;
  dedupKey: string | null;
  build: RunBuild;
  windows: Record<StageName, Window>;
  cancel: { at: number; reason: string } | null;
  splat: SplatSpec | null;
  /** The run finishes its test stage (it has test_results rows). */
  tested: boolean;
}

/** Stage durations a run of this kind takes (ms); a skipped stage takes a moment. */
function plannedWindows(r: Rand, kind: RunKind, perf: boolean, startedAt: number): Record<StageName, Window> {
  const runsOf: Record<StageName, boolean> = {
    apply: true,
    build: kind !== 'fail-apply',
    test: !['fail-apply', 'fail-build', 'error-build'].includes(kind),
    perf: perf && !['fail-apply', 'fail-build', 'error-build'].includes(kind),
    report: true,
  };
  const length: Record<StageName, () => number> = {
    apply: () => r.int(25, 110) * 1000,
    build: () => (kind === 'error-build' ? r.int(20, 50) * MIN : r.int(8 * 60, 38 * 60) * 1000),
    test: () => (kind === 'error-test' ? r.int(25, 45) * MIN : r.int(9 * 60, 34 * 60) * 1000),
    perf: () => r.int(14 * 60, 28 * 60) * 1000,
    report: () => r.int(2, 8) * 1000,
  };
  let t = startedAt;
  const out = {} as Record<StageName, Window>;
  for (const s of STAGES) {
    const d = runsOf[s] ? length[s]() : r.int(200, 900);
    out[s] = { start: t, end: t + d };
    t += d + r.int(300, 3000);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------------------
// Rows and their inserts

/** Each table's columns and their types; a table's rows reference the tables before it (insertion order). */
const COLUMNS = {
  series: {
    id: 'bigint',
    message_id: 'text',
    fingerprint: 'text',
    title: 'text',
    version: 'integer',
    total: 'integer',
    is_rfc: 'boolean',
    is_resend: 'boolean',
    tree_tags: 'text[]',
    author_name: 'text',
    author_email: 'text',
    base_commit: 'text',
    change_id: 'text',
    source_kind: 'text',
    source_ref: 'text',
    data: 'jsonb',
    created_at: 'timestamptz',
    lineage: 'text',
  },
  patches: {
    series_id: 'bigint',
    counter: 'integer',
    message_id: 'text',
    subject: 'text',
    author: 'text',
    trailers: 'jsonb',
    files: 'jsonb',
  },
  runs: {
    id: 'text',
    series_id: 'bigint',
    tree: 'text',
    tree_reason: 'text',
    status: 'text',
    verdict: 'text',
    dedup_key: 'text',
    requested_by: 'text',
    summary: 'text',
    report_md: 'text',
    report_text: 'text',
    options: 'text',
    created_at: 'timestamptz',
    started_at: 'timestamptz',
    finished_at: 'timestamptz',
  },
  stages: {
    run_id: 'text',
    name: 'text',
    ordinal: 'integer',
    status: 'text',
    attempt: 'integer',
    progress: 'jsonb',
    result: 'jsonb',
    error: 'text',
    started_at: 'timestamptz',
    finished_at: 'timestamptz',
  },
  test_results: {
    run_id: 'text',
    stage: 'text',
    kernel: 'text',
    suite: 'text',
    test: 'text',
    subtest: 'text',
    status: 'text',
    duration_ms: 'integer',
    message: 'text',
  },
  perf_samples: {
    run_id: 'text',
    scenario: 'text',
    side: 'text',
    metric: 'text',
    value: 'double precision',
    unit: 'text',
    iteration: 'integer',
    env: 'jsonb',
    created_at: 'timestamptz',
  },
  github_runs: {
    run_id: 'text',
    repo: 'text',
    number: 'integer',
    head_sha: 'text',
    installation_id: 'bigint',
    updated_at: 'timestamptz',
  },
} as const;
type Table = keyof typeof COLUMNS;
type Row<T extends Table> = { [K in keyof (typeof COLUMNS)[T]]: unknown };
const TABLES = Object.keys(COLUMNS) as Table[];

/**
 * Rows buffered per table and written in batches. Default: one JSON parameter per batch of 2,000 rows,
 * unpacked by jsonb_to_recordset (one parameter for PGlite to serialize, not thousands: about 15% faster
 * over the whole generation); KSCI_DD_INSERT=values: multi-row INSERT ... VALUES ($1..$n), 500 rows a statement.
 */
class Sink {
  private readonly rows = new Map<Table, Record<string, unknown>[]>(TABLES.map((t) => [t, []]));
  constructor(private readonly write: Write) {}

  add<T extends Table>(table: T, row: Row<T>): void {
    this.rows.get(table)!.push(row);
  }

  async flush(): Promise<void> {
    for (const table of TABLES) {
      const rows = this.rows.get(table)!;
      const types = Object.entries(COLUMNS[table]) as [string, string][];
      const names = types.map(([c]) => c).join(', ');
      if (process.env['KSCI_DD_INSERT'] === 'values') {
        const per = Math.max(1, Math.min(500, Math.floor(30_000 / types.length)));
        for (let i = 0; i < rows.length; i += per) {
          const params: unknown[] = [];
          const values = rows
            .slice(i, i + per)
            .map(
              (row) => `(${types.map(([c, t]) => `$${params.push(t === 'jsonb' ? json(row[c]) : row[c])}`).join(',')})`,
            );
          await this.write(`INSERT INTO ${table} (${names}) VALUES ${values.join(',')}`, params);
        }
      } else {
        const record = types.map(([c, t]) => `${c} ${t}`).join(', ');
        for (let i = 0; i < rows.length; i += 2000)
          await this.write(
            `INSERT INTO ${table} (${names}) SELECT ${names} FROM jsonb_to_recordset($1::jsonb) AS x(${record})`,
            [JSON.stringify(rows.slice(i, i + 2000))],
          );
      }
      rows.length = 0;
    }
  }
}

const iso = (t: number) => new Date(t).toISOString();
const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/** A stable id from the seed and a name (commits, artifact keys): not drawn from a stream, so it shifts none. */
function stableId(seed: number, what: string, n = 40): string {
  let out = '';
  for (let i = 0; out.length < n; i++) out += createHash('sha256').update(`${seed}:${what}:${i}`).digest('hex');
  return out.slice(0, n);
}

// ---------------------------------------------------------------------------------------------------------------------------------
// The generator

/** One statement of the bulk insert, with its parameters. */
type Write = (sql: string, params: unknown[]) => Promise<void>;

/** What planning and the bulk rows give back; the nightly part is added after. */
interface Planned {
  core: Omit<DashboardData, 'changePoints'>;
  lastSeriesId: number;
}

const TREES = ['net-next', 'bpf-next'] as const;
const LISTS: Record<(typeof TREES)[number], string> = { 'net-next': 'netdev', 'bpf-next': 'bpf' };
const WORKER_TAG = 'ksci-dashboard-data';

export async function generateDashboardData(db: Db, o: DashboardDataOptions): Promise<DashboardData> {
  checkOptions(o);
  const seed = o.seed ?? 1;
  const now = (o.now ?? new Date('2026-12-01T00:00:00Z')).getTime();
  const [row] = await db.query<{ m: string | number }>('SELECT COALESCE(MAX(id), 0) AS m FROM series');
  const firstSeriesId = Number(row?.m ?? 0) + 1;
  const planned = await db.transaction(async (tx) => {
    const write: Write = async (sql, params) => {
      await tx.query(sql, params);
    };
    // A big set is made in a worker thread, which makes rows while this thread inserts the ones before (two cores at
    // work); a small one here, where the worker's start (loading the stages' modules again) would cost more than it saves.
    const worker = process.env['KSCI_DD_WORKER'] ?? (o.series >= 1000 ? '1' : '0');
    const p =
      worker === '0' ? await new Generator(o, firstSeriesId).plan(write) : await planInWorker(o, firstSeriesId, write);
    await tx.query(`SELECT setval(pg_get_serial_sequence('series', 'id'), $1)`, [p.lastSeriesId]);
    for (const tree of TREES)
      await tx.query(
        'INSERT INTO lore_lists (list, newest_seen, last_poll_at, last_ok_at, last_error) VALUES ($1,$2,$3,$3,NULL) ON CONFLICT (list) DO NOTHING',
        [LISTS[tree], iso(now - 40 * MIN), iso(now - 2 * MIN)],
      );
    return p;
  });
  const changePoints = await nightlyHistory(db, seed, now, o);
  return { ...planned.core, changePoints };
}

function checkOptions(o: DashboardDataOptions): void {
  if (!Number.isInteger(o.series) || o.series < 20)
    throw new Error(
      'dashboard-data: series must be at least 20 (4 special series, and enough runs for the flaky tests)',
    );
  if (!Number.isInteger(o.testsPerRun) || o.testsPerRun < 10)
    throw new Error('dashboard-data: testsPerRun must be at least 10 (the 4 tracked tests and one more, on 2 kernels)');
  if (!Number.isInteger(o.scenarios) || o.scenarios < 2)
    throw new Error('dashboard-data: scenarios must be at least 2 (the two planted change points)');
  if (!Number.isInteger(o.nightlyDays) || o.nightlyDays < 20)
    throw new Error('dashboard-data: nightlyDays must be at least 20 (change points need nights on both sides)');
}

type FromWorker =
  | { type: 'rows'; sql: string; params: unknown[] }
  | { type: 'done'; planned: Planned }
  | { type: 'error'; message: string; stack: string | undefined };

/** Runs the Generator in a worker thread (this module again), inserting the statements it sends, in order. */
async function planInWorker(o: DashboardDataOptions, firstSeriesId: number, write: Write): Promise<Planned> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { tag: WORKER_TAG, o, firstSeriesId } });
  const queue: FromWorker[] = [];
  let wake: (() => void) | null = null;
  const push = (m: FromWorker) => {
    queue.push(m);
    wake?.();
    wake = null;
  };
  worker.on('message', push);
  worker.on('error', (err: Error) => push({ type: 'error', message: err.message, stack: err.stack }));
  worker.on('exit', (code) =>
    push({ type: 'error', message: `dashboard-data: the worker exited (code ${code})`, stack: undefined }),
  );
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const m = queue.shift()!;
      if (m.type === 'rows') {
        await write(m.sql, m.params);
        worker.postMessage('ack');
      } else if (m.type === 'done') return m.planned;
      else {
        const err = new Error(m.message);
        if (m.stack) err.stack = m.stack;
        throw err;
      }
    }
  } finally {
    worker.removeAllListeners();
    await worker.terminate();
  }
}

/** The worker's side: make the rows, send each statement, and stay at most a few statements ahead of the inserts. */
async function workerMain(): Promise<void> {
  const port = parentPort!;
  const { o, firstSeriesId } = workerData as { o: DashboardDataOptions; firstSeriesId: number };
  let ahead = 0;
  let wake: (() => void) | null = null;
  port.on('message', () => {
    ahead--;
    wake?.();
    wake = null;
  });
  const write: Write = async (sql, params) => {
    port.postMessage({ type: 'rows', sql, params } satisfies FromWorker);
    ahead++;
    while (ahead > 4) await new Promise<void>((resolve) => (wake = resolve));
  };
  try {
    const planned = await new Generator(o, firstSeriesId).plan(write);
    port.postMessage({ type: 'done', planned } satisfies FromWorker);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ type: 'error', message: e.message, stack: e.stack } satisfies FromWorker);
  }
}

class Generator {
  private readonly seed: number;
  private readonly now: number;
  private readonly yearStart: number;
  private readonly nTests: number;
  private readonly r: Rand;
  private readonly trees = TREES;
  private readonly lists = LISTS;
  private readonly suites: { smoke: Suite; bpf: Suite; pktgen: Suite };
  private readonly people: Person[];
  private readonly lineageKeys = new Set<string>();
  private readonly lineages: LineagePlan[] = [];
  private nextSeriesId: number;
  /** Base results per tree|suite|test, oldest first: what baseStability answers. */
  private readonly baseHistory = new Map<string, string[]>();
  /** net-next's tested runs in order: where each is, and whether the always-failing test fails on its base. */
  private readonly trackedIndex = new Map<string, { index: number; failing: boolean }>();

  constructor(
    private readonly o: DashboardDataOptions,
    firstSeriesId: number,
  ) {
    checkOptions(o);
    this.nextSeriesId = firstSeriesId;
    this.seed = o.seed ?? 1;
    this.now = (o.now ?? new Date('2026-12-01T00:00:00Z')).getTime();
    this.yearStart = this.now - 365 * DAY;
    this.nTests = Math.floor(o.testsPerRun / 2);
    this.r = new Rand(this.seed);
    const dir = suitesDir(null);
    this.suites = { smoke: loadSuite(dir, 'smoke'), bpf: loadSuite(dir, 'bpf'), pktgen: loadSuite(dir, 'pktgen') };
    const pr = new Rand(this.seed ^ 0x5bd1e995);
    this.people = [];
    const seen = new Set<string>();
    while (this.people.length < 48) {
      const first = pr.pick(FIRST);
      const last = pr.pick(LAST);
      const address = `${first.toLowerCase()}.${last.toLowerCase()}@${pr.pick(DOMAINS)}`;
      if (seen.has(address)) continue;
      seen.add(address);
      this.people.push({ name: `${first} ${last}`, address });
    }
  }

  private id(what: string, n = 40): string {
    return stableId(this.seed, what, n);
  }

  private treeHead(tree: string, t: number): string {
    return this.id(`head:${tree}:${Math.floor((t - this.yearStart) / DAY)}`);
  }

  async plan(write: Write): Promise<Planned> {
    this.planLineages();
    const runs = this.lineages
      .flatMap((l) => l.versions.flatMap((v) => v.runs))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    const special = (s: Special) => runs.find((x) => x.special === s)!;
    this.planIncidents(runs, special('failing'));
    const tested0 = runs.filter((x) => x.tested && x.v.lineage.tree === 'net-next');
    const streak = Math.min(12 + this.r.int(0, 6), tested0.length - 3);
    if (streak < 12)
      throw new Error(`dashboard-data: only ${tested0.length} tested runs on net-next; more series are needed`);
    for (const [i, x] of tested0.entries())
      this.trackedIndex.set(x.id, { index: i, failing: i >= tested0.length - streak });

    const s = new Sink(write);
    for (const l of this.lineages) for (const v of l.versions) this.seriesRows(s, v);
    await s.flush();
    for (const [i, run] of runs.entries()) {
      this.runRows(s, run);
      if (i % 100 === 99) await s.flush();
    }
    await s.flush();

    const hostile = special('hostile');
    const core = {
      trees: [...this.trees],
      lists: this.trees.map((t) => this.lists[t]),
      seriesIds: this.lineages.flatMap((l) => l.versions.map((v) => v.seriesId)),
      runIds: runs.map((x) => x.id),
      failingRunId: special('failing').id,
      perfRunId: special('perf').id,
      hostileSeriesId: hostile.v.seriesId,
      hostileRunId: hostile.id,
      runningRunId: special('running').id,
      flakyTests: FLAKY.map((test) => ({ tree: 'net-next', suite: 'bpf', test })),
      alwaysFailing: { tree: 'net-next', suite: 'bpf', test: ALWAYS_FAILING, streak },
    };
    return { core, lastSeriesId: this.nextSeriesId - 1 };
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // Series and runs, planned

  private planLineages(): void {
    const r = this.r;
    const specials: Special[] = ['failing', 'perf', 'hostile', 'running'];
    for (let i = 0; i < this.o.series; i++) {
      const special = specials[i] ?? null;
      const tree: 'net-next' | 'bpf-next' =
        special === 'hostile' ? 'bpf-next' : special ? 'net-next' : r.chance(0.55) ? 'net-next' : 'bpf-next';
      const github = !special && r.chance(0.05);
      const area = r.pick(AREAS[tree]);
      const author = github ? this.githubPerson(r) : r.pick(this.people);
      const isRfc = !special && !github && r.chance(0.04);
      let title = this.title(r, area, special);
      let key = titleLineage({ author, title, treeTags: github ? [] : [tree], isRfc });
      for (let k = 2; this.lineageKeys.has(key); k++) {
        title = `${this.title(r, area, null)}${k > 4 ? ` (part ${k})` : ''}`;
        key = titleLineage({ author, title, treeTags: github ? [] : [tree], isRfc });
      }
      this.lineageKeys.add(key);
      const pr = github
        ? {
            repo: tree === 'bpf-next' ? 'kernel-patches/bpf' : 'kernel-patches/netdev',
            number: 4000 + i,
            login: author.name,
          }
        : null;
      const l: LineagePlan = {
        tree,
        list: this.lists[tree],
        area,
        author,
        title,
        isRfc,
        github: pr,
        changeId: null,
        // As prLineage (src/github/bot.ts) names a PR's lineage; not imported: octokit takes a second to load.
        lineage: pr ? `github:${pr.repo}#${pr.number}` : key,
        versions: [],
        special,
      };
      this.lineages.push(l);
      const first = special ? null : this.yearStart + DAY + r.float() * (365 - 24) * DAY;
      // b4's change-id: the day the series was started, a topic, a random part.
      if (!github && r.chance(0.3))
        l.changeId = `${this.dayStamp(first ?? this.now - 7 * DAY)}-${area.prefix.split(/[:,/ ]/)[0]}-${r.hex(12)}`;
      this.planVersions(l, i, first);
    }
  }

  private githubPerson(r: Rand): Person {
    const login = `${r.pick(FIRST).toLowerCase()}${r.pick(['-dev', '', '42', '-k', 'x'])}`;
    return { name: login, address: `${r.int(1_000_000, 99_000_000)}+${login}@users.noreply.github.com` };
  }

  private title(r: Rand, area: Area, special: Special | null): string {
    if (special === 'hostile') return `bpf: ${HOSTILE_SCRIPT} sanitize ${HOSTILE_IMG} in bpf_dynptr_from_skb_meta`;
    if (special === 'failing') return 'net: skb: add skb_ext backed by BPF local storage';
    if (special === 'perf') return 'net: skb: move skb metadata into an skb extension';
    const phrase = r.chance(0.25)
      ? r.pick(area.phrases)
      : r.pick(GENERIC_PHRASES).replace('{fn}', `${r.pick(area.fns)}()`);
    return `${area.prefix}: ${phrase}`;
  }

  private dayStamp(t: number): string {
    return iso(t).slice(0, 10).replace(/-/g, '');
  }

  private planVersions(l: LineagePlan, i: number, first: number | null): void {
    const r = this.r;
    const fixed: Record<Special, number> = {
      failing: this.now - 6 * DAY - 3 * HOUR,
      perf: this.now - 4 * DAY - 5 * HOUR,
      hostile: this.now - 2 * DAY - 7 * HOUR,
      running: this.now - 30 * MIN,
    };
    const count = l.special ? 1 : r.weighted({ one: 0.25, two: 0.4, three: 0.35 });
    const n = l.special ? 1 : { one: 1, two: 2, three: 3 }[count as 'one' | 'two' | 'three'];
    let t = l.special ? fixed[l.special] : first!;
    for (let k = 1; k <= n; k++) {
      if (k > 1) {
        const q = r.chance(0.12);
        t += q ? r.int(10, 40) * MIN : r.int(1, 14) * DAY + r.int(0, 23) * HOUR;
        if (t > this.now - 3 * HOUR) break;
      }
      const v = this.versionPlan(l, k, t, i);
      l.versions.push(v);
    }
    for (const [k, v] of l.versions.entries()) {
      const next = l.versions[k + 1];
      const first = this.runPlan(v, l.special, null);
      v.runs.push(first);
      if (next && first.kind !== 'running' && first.kind !== 'cancelled') {
        // The next version's run is submitted a few minutes after it; the coordinator cancels this one then.
        const at = next.createdAt + 4 * MIN + 1000;
        const windows = plannedWindows(r, 'cancelled', first.perf, first.startedAt);
        if (at < windows.report.start) {
          first.windows = windows;
          this.cancelAt(first, at, `superseded by v${next.version}`);
        }
      }
      if (!l.special && first.cancel === null && r.chance(0.15)) {
        const after =
          first.windows.report.end + (first.kind.startsWith('error') ? r.int(1, 6) * HOUR : r.int(1, 48) * HOUR);
        if (after < this.now - 2 * HOUR && (!next || after < next.createdAt))
          v.runs.push(this.runPlan(v, null, { at: after, forced: !first.kind.startsWith('error') }));
      }
    }
    // The superseding run's id is known now.
    for (const [k, v] of l.versions.entries()) {
      const c = v.runs[0]!.cancel;
      const next = l.versions[k + 1];
      if (c && next) c.reason = `superseded by v${next.version} (run ${next.runs[0]!.id})`;
    }
  }

  private versionPlan(l: LineagePlan, version: number, createdAt: number, i: number): VersionPlan {
    const series = this.makeSeries(l, version, createdAt, i);
    const ref = l.github
      ? `https://github.com/${l.github.repo}/pull/${l.github.number}`
      : `https://lore.kernel.org/${l.list}/${series.messageId}/`;
    return { lineage: l, version, createdAt, series, seriesId: this.nextSeriesId++, sourceRef: ref, runs: [] };
  }

  private runPlan(v: VersionPlan, special: Special | null, retest: { at: number; forced: boolean } | null): RunPlan {
    const r = this.r;
    const l = v.lineage;
    const kind: RunKind =
      special === 'running'
        ? 'running'
        : special === 'failing' || special === 'hostile'
          ? 'fail-test'
          : special === 'perf'
            ? 'pass'
            : r.weighted<Exclude<RunKind, 'fail-splat' | 'running'>>({
                pass: 0.65,
                'fail-test': 0.13,
                'fail-build': 0.06,
                'fail-apply': 0.07,
                'error-build': 0.01,
                'error-test': 0.05,
                cancelled: retest ? 0 : 0.03,
              });
    const perf = special === 'perf' || (!special && (kind === 'pass' || kind === 'fail-test') && r.chance(0.012));
    const createdAt = retest ? retest.at : v.createdAt + r.int(2 * 60, 8 * 60) * 1000;
    const startedAt = createdAt + r.int(40, 90) * 1000;
    const build = this.runBuild(l.tree, perf);
    const dedupKey =
      retest?.forced === true
        ? null
        : `${v.series.fingerprint}:${l.tree}:${build.arch}-${build.toolchain}:${build.configs.join('+')}${build.perPatch ? ':per-patch' : ''}${build.suites.length ? `:${build.suites.join('+')}` : ''}${build.perfSuites.length ? `:perf=${build.perfSuites.join('+')}` : ''}${build.perfBisect ? ':bisect' : ''}${build.perfClock && build.perfClock !== 'auto' ? `:${build.perfClock}` : ''}`;
    let windows = plannedWindows(r, kind, perf, startedAt);
    if (special === 'running') {
      // Apply and build done, the test stage running since a few minutes before now.
      windows = {
        apply: { start: startedAt, end: startedAt + 70_000 },
        build: { start: startedAt + 72_000, end: this.now - 9 * MIN },
        test: { start: this.now - 9 * MIN + 2000, end: this.now + 20 * MIN },
        perf: { start: this.now + 21 * MIN, end: this.now + 21 * MIN },
        report: { start: this.now + 22 * MIN, end: this.now + 22 * MIN },
      };
    }
    const run: RunPlan = {
      id: r.uuid(),
      v,
      kind,
      special,
      perf,
      createdAt,
      startedAt,
      requestedBy: retest?.forced ? 'cli' : l.github ? `github:${l.github.login}` : `lore:${l.list}`,
      dedupKey,
      build,
      windows,
      cancel: null,
      splat: null,
      tested: ['pass', 'fail-test'].includes(kind),
    };
    if (kind === 'cancelled') {
      const stop = startedAt + r.float() * (windows.report.start - startedAt);
      this.cancelAt(run, stop, `cancelled by ${r.pick(['admin', 'cli', 'web:maintainer'])}`);
    }
    return run;
  }

  /** The run stops at `at`; until then its stages run as a passing run's would. */
  private cancelAt(run: RunPlan, at: number, reason: string): void {
    run.kind = 'cancelled';
    run.cancel = { at, reason };
    run.tested = run.windows.test.end <= at;
  }

  private runBuild(tree: 'net-next' | 'bpf-next', perf: boolean): RunBuild {
    const smoke = this.testPlan(tree).some((t) => t.suite === 'smoke');
    // As resolveBuild makes it with build.defaultConfigs [bpf]: the default, then what the suites boot.
    return RunBuildSchema.parse({
      configs: ['bpf', ...(smoke ? ['vm'] : []), ...(perf ? ['perf'] : [])],
      arch: 'x86_64',
      toolchain: 'gcc',
      perPatch: false,
      suites: smoke ? ['smoke', 'bpf'] : ['bpf'],
      perfSuites: perf ? ['pktgen'] : [],
      perfBisect: false,
      perfClock: perf ? 'auto' : null,
    });
  }

  /** The fixed part of a tree's test list: net-next runs the tracked tests first. */
  private testPlan(tree: string): { suite: 'smoke' | 'bpf'; test: string }[] {
    const fixed: { suite: 'smoke' | 'bpf'; test: string }[] =
      tree === 'net-next'
        ? [...FLAKY, ALWAYS_FAILING].map((test) => ({ suite: 'bpf', test }))
        : [{ suite: 'smoke', test: 'kernel-alive' }];
    // With room for more than the tracked tests and one free, net-next boots the smoke suite too.
    if (tree === 'net-next' && this.nTests >= 7) fixed.push({ suite: 'smoke', test: 'kernel-alive' });
    return fixed;
  }

  /** Turns passing runs into the splat incident before the failing run, and a few one-off splats. */
  private planIncidents(runs: RunPlan[], failing: RunPlan): number {
    const r = this.r;
    failing.splat = KASAN_INCIDENT;
    const plain = (x: RunPlan) => x.kind === 'pass' && x.special === null && !x.perf;
    const before = runs.filter((x) => plain(x) && x.v.lineage.tree === 'net-next' && x.createdAt < failing.createdAt);
    const incident = before.slice(-6);
    if (incident.length < 2) throw new Error('dashboard-data: too few runs for the splat incident');
    for (const x of incident) {
      x.kind = 'fail-splat';
      x.splat = KASAN_INCIDENT;
    }
    const others = r.sample(
      runs.filter((x) => plain(x) && x.createdAt < failing.createdAt - 30 * DAY),
      ONE_OFF_SPLATS.length,
    );
    others.forEach((x, i) => {
      x.kind = 'fail-splat';
      x.splat = ONE_OFF_SPLATS[i]!;
    });
    return incident.length;
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // Series content

  private makeSeries(l: LineagePlan, version: number, createdAt: number, i: number): Series {
    const r = this.r;
    const total = l.special ? 3 : r.int(2, 6);
    const tags = l.github ? [] : [l.tree];
    const date = new Date(createdAt);
    const stamp = iso(createdAt).replace(/[-:T]/g, '').slice(0, 14);
    const local = l.author.address.split('@')[0]!;
    const domain = l.author.address.split('@')[1]!;
    const pid = r.int(1000, 99999);
    const head = r.hex(12);
    const msgId = (k: number) =>
      l.github
        ? `ksci.${l.github.repo.replace('/', '.')}.pr${l.github.number}.${head}.${k}@github`
        : `${stamp}.${pid}-${k}-${local}@${domain}`;
    const subject = (k: number, title: string): SubjectInfo => {
      const bits = [
        l.isRfc ? 'RFC PATCH' : 'PATCH',
        ...(l.github ? [] : [l.tree]),
        ...(version > 1 ? [`v${version}`] : []),
        `${k}/${total}`,
      ];
      return {
        raw: `[${bits.join(' ')}] ${title}`,
        isReply: false,
        isPatch: true,
        isRfc: l.isRfc,
        isResend: false,
        version,
        counter: k,
        total,
        treeTags: tags,
        title,
      };
    };
    const reviewers = r.sample(this.people, 2).filter((p) => p.address !== l.author.address);
    const patches: Patch[] = [];
    for (let k = 1; k <= total; k++) {
      const last = k === total && total > 2;
      const title =
        k === 1
          ? l.title
          : last
            ? `${l.tree === 'bpf-next' ? 'selftests/bpf' : 'selftests: net'}: add a test for ${r.pick(l.area.fns)}()`
            : `${l.area.prefix}: ${r.pick(GENERIC_PHRASES).replace('{fn}', `${r.pick(l.area.fns)}()`)}`;
      const files: DiffFile[] = (
        last ? SELFTEST_FILES[l.tree] : r.sample(l.area.files, r.int(1, l.area.files.length))
      ).map((f) => ({ oldPath: f, newPath: f, binary: false, newMode: null }));
      const trailers: Trailer[] = [
        { key: 'Signed-off-by', value: `${l.author.name} <${l.author.address}>`, fromMessageId: null },
      ];
      for (const p of reviewers)
        if (r.chance(0.35))
          trailers.push({
            key: r.chance(0.6) ? 'Reviewed-by' : 'Acked-by',
            value: `${p.name} <${p.address}>`,
            fromMessageId: `${stamp}.${r.hex(8)}@${p.address.split('@')[1]}`,
          });
      const subj = subject(k, title);
      // The mail itself only for the special series: nothing reads the bulk ones', and they are most of the bytes.
      const headers = [
        `From: ${l.author.name} <${l.author.address}>`,
        `Subject: ${subj.raw}`,
        `Message-ID: <${msgId(k)}>`,
      ];
      const raw = (
        l.special
          ? [
              ...headers,
              `Date: ${date.toUTCString()}`,
              '',
              `${title}.`,
              '',
              ...trailers.filter((t) => t.fromMessageId === null).map((t) => `${t.key}: ${t.value}`),
              '---',
              ...files.map((f) => ` ${f.newPath} | ${r.int(2, 120)} ++++--`),
              '',
            ]
          : [...headers, '']
      ).join('\n');
      patches.push({
        counter: k,
        messageId: msgId(k),
        subject: subj,
        author: l.author,
        date: date.toISOString(),
        trailers,
        files,
        rawBase64: Buffer.from(raw).toString('base64'),
      });
    }
    const body = [
      l.special === 'hostile'
        ? `This series sanitizes ${HOSTILE_SCRIPT} and ${HOSTILE_IMG} in the dynptr helpers.`
        : `This series: ${l.title.split(': ').pop()}.`,
      '',
      ...(version > 1 ? [`Changes in v${version}:`, `- address review comments on v${version - 1}`, ''] : []),
      ...(l.changeId ? [`change-id: ${l.changeId}`] : []),
    ].join('\n');
    const series: Series = {
      title: l.title,
      version,
      total,
      isRfc: l.isRfc,
      isResend: false,
      treeTags: tags,
      author: l.author,
      messageId: msgId(0),
      cover: {
        messageId: msgId(0),
        subject: subject(0, l.title),
        author: l.author,
        date: date.toISOString(),
        body,
        trailers: [],
      },
      patches,
      baseCommit: l.github || r.chance(0.4) ? this.treeHead(l.tree, createdAt) : null,
      changeId: l.changeId,
      fingerprint: this.id(`fingerprint:${i}:${version}`, 64),
    };
    return SeriesSchema.parse(series);
  }

  private seriesRows(s: Sink, v: VersionPlan): void {
    const x = v.series;
    s.add('series', {
      id: v.seriesId,
      message_id: x.messageId,
      fingerprint: x.fingerprint,
      title: x.title,
      version: x.version,
      total: x.total,
      is_rfc: x.isRfc,
      is_resend: x.isResend,
      tree_tags: x.treeTags,
      author_name: x.author.name,
      author_email: x.author.address,
      base_commit: x.baseCommit,
      change_id: x.changeId,
      source_kind: v.lineage.github ? 'github' : 'lore',
      source_ref: v.sourceRef,
      data: x,
      created_at: iso(v.createdAt),
      lineage: v.lineage.lineage,
    });
    for (const p of x.patches)
      s.add('patches', {
        series_id: v.seriesId,
        counter: p.counter,
        message_id: p.messageId,
        subject: p.subject.raw,
        author: `${p.author.name} <${p.author.address}>`,
        trailers: p.trailers,
        files: p.files,
      });
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // A run's rows

  private runRows(s: Sink, run: RunPlan): void {
    const r = this.r;
    const l = run.v.lineage;
    const tree = l.tree;
    const rich = run.special !== null;
    const baseCommit = run.v.series.baseCommit ?? this.treeHead(tree, run.createdAt);
    const outcomes: StageOutcome[] = [];
    const rows: Record<
      StageName,
      {
        status: string;
        attempt: number;
        progress: unknown;
        result: StageOutcome | null;
        error: string | null;
        start: number | null;
        end: number | null;
      }
    > = {} as never;
    const cancel = run.cancel;
    let cancelledFrom: StageName | null = null;
    const w = run.windows;
    let head = baseCommit;

    const outcome = (stage: StageName, res: StageResult, attempts = 1): StageOutcome => {
      const o = StageOutcomeSchema.parse({
        stage,
        ...res,
        attempts,
        startedAt: iso(w[stage].start),
        finishedAt: iso(w[stage].end),
      });
      outcomes.push(o);
      return o;
    };
    const done = (stage: StageName, o: StageOutcome) => {
      rows[stage] = {
        status: o.status,
        attempt: o.attempts,
        progress: null,
        result: o,
        error: null,
        start: w[stage].start,
        end: w[stage].end,
      };
    };
    const skipped = (stage: StageName, why: string, data: unknown = null) =>
      done(stage, outcome(stage, { status: 'skipped', summary: why, data }));
    const failedFor = (stage: StageName, attempts: number, reason: string) => {
      outcomes.push(
        StageOutcomeSchema.parse({
          stage,
          status: 'error',
          summary: `infrastructure error after ${attempts} attempt(s): ${reason}`,
          data: null,
          attempts,
          startedAt: iso(w[stage].start),
          finishedAt: iso(w[stage].end),
        }),
      );
      rows[stage] = {
        status: 'error',
        attempt: attempts,
        progress: null,
        result: null,
        error: reason,
        start: w[stage].start,
        end: w[stage].end,
      };
    };
    // Where the cancel falls: earlier stages finished, this one and later ones cancelled.
    const cut = (stage: StageName): boolean => {
      if (!cancel || cancelledFrom !== null || w[stage].end <= cancel.at) return cancelledFrom !== null;
      cancelledFrom = stage;
      return true;
    };

    const unmet = (need: StageName) => {
      const o = outcomes.find((x) => x.stage === need);
      return o && o.status !== 'passed' ? `not run: ${need} ${o.status}` : null;
    };

    // apply
    const patches = run.v.series.patches;
    if (!cut('apply')) {
      if (run.kind === 'fail-apply') {
        const k = r.int(1, patches.length);
        const p = patches[k - 1]!;
        const file = p.files[0]?.newPath ?? 'net/core/dev.c';
        const data = ApplyData.parse({
          status: 'conflict',
          baseCommit,
          base: { reason: run.v.series.baseCommit ? 'base-commit' : 'branch-head', note: null },
          failedPatch: { counter: k, title: p.subject.title },
          appliedBefore: k - 1,
          gitMessage: [
            `Applying: ${p.subject.title}`,
            `error: patch failed: ${file}:${r.int(40, 4000)}`,
            `error: ${file}: patch does not apply`,
            `Patch failed at 000${k} ${p.subject.title}`,
            "hint: Use 'git am --show-current-patch=diff' to see the failed patch",
          ].join('\n'),
          files: [file],
        });
        done('apply', outcome('apply', applyOutcome(data)));
      } else {
        const commits = patches.map((p) => ({
          counter: p.counter,
          title: p.subject.title,
          commit: this.id(`${run.id}:p${p.counter}`),
        }));
        head = commits[commits.length - 1]!.commit;
        const data = ApplyData.parse({
          status: 'applied',
          baseCommit,
          headCommit: head,
          ref: `refs/ksci/runs/${run.id}`,
          base: { reason: run.v.series.baseCommit ? 'base-commit' : 'branch-head', note: null },
          patches: commits,
          partiallyMerged: [],
        });
        done('apply', outcome('apply', applyOutcome(data)));
      }
    }

    // build
    let buildData: BuildStageData | null = null;
    if (!cut('build')) {
      const why = unmet('apply');
      if (why) skipped('build', why);
      else if (run.kind === 'error-build')
        failedFor('build', 3, `build sandbox: no space left on device (${r.int(88, 99)}% of /var/lib/ksci/cache used)`);
      else {
        buildData = this.buildData(run, baseCommit, head);
        done('build', outcome('build', buildResult(buildData, 'fail')));
      }
    }

    // test
    let testRows: TestResult[] = [];
    if (!cut('test')) {
      const why = unmet('build');
      if (why) skipped('test', why);
      else if (run.kind === 'error-test') {
        failedFor(
          'test',
          3,
          `VM host lab${r.int(1, 3)}:${r.int(2000, 60000)} stopped answering (no heartbeat for 120 s)`,
        );
      } else if (run.kind === 'running') {
        rows.test = {
          status: 'active',
          attempt: 1,
          progress: { message: `bpf series: ${FLAKY[1]} (3/${this.nTests})` },
          result: null,
          error: null,
          start: w.test.start,
          end: null,
        };
      } else {
        const data = this.testData(run, buildData!);
        const parsed = TestStageDataSchema.parse(data);
        const broken = parsed.suites.filter(suiteFailed);
        const o = outcome(
          'test',
          {
            status: broken.length > 0 ? 'failed' : 'passed',
            summary: parsed.suites.map(suiteSummary).join('; ') || 'no suites',
            data: parsed,
          },
          run.special === null && r.chance(0.04) ? 2 : 1,
        );
        done('test', o);
        testRows = testResultRows(parsed);
        this.remember(tree, testRows);
      }
    }

    // perf
    let perfRows: ReturnType<typeof perfSampleRows> = [];
    if (run.kind === 'running') {
      rows.perf = { status: 'pending', attempt: 0, progress: null, result: null, error: null, start: null, end: null };
    } else if (!cut('perf')) {
      const why = unmet('build');
      if (why) skipped('perf', why);
      else if (!run.perf)
        skipped('perf', 'no perf run asked for (ksci run --perf)', PerfStageDataSchema.parse({ suites: [] }));
      else {
        const data = PerfStageDataSchema.parse({ suites: [this.perfSuite(run, buildData!)] });
        const broken = data.suites.filter((x) => perfFailed(x.run, x.verdicts, newSplats(x)));
        done(
          'perf',
          outcome('perf', {
            status: broken.length > 0 ? 'failed' : 'passed',
            summary: data.suites.map(perfSummary).join('; '),
            data,
          }),
        );
        perfRows = perfSampleRows(data);
        if (run.special === 'perf' && !data.suites[0]!.verdicts.some((v) => v.comparison?.verdict === 'regression'))
          throw new Error('dashboard-data: the perf run decided no regression');
      }
    }

    // report
    let report: Report | null = null;
    if (run.kind === 'running') {
      rows.report = {
        status: 'pending',
        attempt: 0,
        progress: null,
        result: null,
        error: null,
        start: null,
        end: null,
      };
    } else if (!cut('report')) {
      const ctx: RunContext = {
        runId: run.id,
        stages: [...STAGES],
        tree: { name: tree, reason: this.treeReason(run) },
        build: run.build,
        series: summarizeSeries(run.v.series),
      };
      const details: Record<string, DetailRenderer> = rich
        ? { apply: applyDetails, build: buildDetails, test: testDetails, perf: perfDetails }
        : {};
      report = ReportSchema.parse(renderReport(ctx, outcomes, details));
      done('report', outcome('report', { status: 'passed', summary: report.headline, data: report }));
    }

    // Cancelled from a stage on: that stage stopped at the cancel, the later ones refused right after it.
    if (cancel && cancelledFrom !== null) {
      let t = cancel.at;
      for (const stage of STAGES.slice(STAGES.indexOf(cancelledFrom))) {
        const began = stage === cancelledFrom ? Math.min(w[stage].start, t) : t;
        rows[stage] = {
          status: 'cancelled',
          attempt: 1,
          progress: null,
          result: null,
          error: `cancelled: ${cancel.reason}`,
          start: began,
          end: stage === cancelledFrom ? t : t + 200,
        };
        t += r.int(300, 2500);
      }
    }

    // The run row.
    const status =
      run.kind === 'running'
        ? 'running'
        : cancel
          ? 'cancelled'
          : ({ pass: 'passed', fail: 'failed', error: 'error', cancelled: 'cancelled', skipped: 'skipped' } as const)[
              report!.verdict
            ];
    const finished =
      run.kind === 'running' ? null : cancel ? rows.report.end! + r.int(100, 900) : w.report.end + r.int(50, 500);
    s.add('runs', {
      id: run.id,
      series_id: run.v.seriesId,
      tree,
      tree_reason: this.treeReason(run),
      status,
      verdict: cancel ? 'cancelled' : (report?.verdict ?? null),
      dedup_key: run.dedupKey,
      requested_by: run.requestedBy,
      summary: cancel ? `cancelled: ${cancel.reason}` : (report?.headline ?? null),
      report_md: report?.markdown ?? null,
      report_text: report?.text ?? null,
      options: JSON.stringify(run.build),
      created_at: iso(run.createdAt),
      started_at: iso(run.startedAt),
      finished_at: finished === null ? null : iso(finished),
    });
    for (const [ordinal, stage] of STAGES.entries()) {
      const x = rows[stage];
      s.add('stages', {
        run_id: run.id,
        name: stage,
        ordinal,
        status: x.status,
        attempt: x.attempt,
        progress: x.progress,
        result: x.result,
        error: x.error,
        started_at: x.start === null ? null : iso(x.start),
        finished_at: x.end === null ? null : iso(x.end),
      });
    }
    for (const t of testRows)
      s.add('test_results', {
        run_id: run.id,
        stage: 'test',
        kernel: t.kernel,
        suite: t.suite,
        test: t.test,
        subtest: t.subtest,
        status: t.status,
        duration_ms: t.durationMs,
        message: t.message,
      });
    const perfStart = w.perf.start;
    for (const [i, p] of perfRows.entries())
      s.add('perf_samples', {
        run_id: run.id,
        scenario: p.scenario,
        side: p.side,
        metric: p.metric,
        value: p.value,
        unit: p.unit,
        iteration: p.iteration,
        env: p.env,
        created_at: iso(perfStart + Math.floor(((w.perf.end - perfStart) * i) / Math.max(1, perfRows.length))),
      });
    if (l.github)
      s.add('github_runs', {
        run_id: run.id,
        repo: l.github.repo,
        number: l.github.number,
        head_sha: head,
        installation_id: 51_234_567,
        updated_at: iso(finished ?? run.startedAt),
      });
  }

  private treeReason(run: RunPlan): string {
    const l = run.v.lineage;
    return l.github ? `base-commit ${run.v.series.baseCommit!.slice(0, 12)} is in ${l.tree}` : `subject tag ${l.tree}`;
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // Build stage

  private buildData(run: RunPlan, baseCommit: string, head: string): BuildStageData {
    const r = this.r;
    const tree = run.v.lineage.tree;
    const w = run.windows.build;
    const per = Math.floor((w.end - w.start) / run.build.configs.length);
    const failing = run.kind === 'fail-build' ? r.pick(run.build.configs) : null;
    const area = run.v.lineage.area;
    const builds = run.build.configs.map((config) => {
      const key = (side: string, commit: string) => this.id(`artifact:${tree}:${commit}:${config}:${side}`, 64);
      const dir = (k: string) => `/var/lib/ksci/artifacts/${k.slice(0, 2)}/${k}`;
      const warnings = (tree === 'net-next' ? 3 : 5) + (config === 'bpf' ? 2 : 0);
      const outcome = (side: 'base' | 'series') => {
        const commit = side === 'base' ? baseCommit : head;
        const k = key(side, commit);
        const broken = side === 'series' && failing === config;
        const file = area.files.find((f) => f.endsWith('.c')) ?? 'net/core/dev.c';
        const fn = r.pick(area.fns);
        const line = r.int(100, 6000);
        const diag = {
          severity: 'error' as const,
          file,
          line,
          column: r.int(2, 30),
          message: `implicit declaration of function '${fn}_meta'; did you mean '${fn}'?`,
          flag: '-Wimplicit-function-declaration',
          tool: 'compiler' as const,
          context: [
            `${file}: In function '${fn}':`,
            `${file}:${line}:9: error: implicit declaration of function '${fn}_meta'; did you mean '${fn}'? [-Wimplicit-function-declaration]`,
            `  ${line} |         err = ${fn}_meta(skb, ext);`,
            '       |               ^~~~~~~~~~~~',
          ],
        };
        return {
          config,
          commit,
          treeId: this.id(`treeid:${commit}`),
          status: broken ? ('failed' as const) : ('ok' as const),
          cacheHit: side === 'base' ? r.chance(0.85) : false,
          durationMs: side === 'base' ? r.int(0, 20_000) : per - r.int(1000, 20_000),
          artifactKey: k,
          artifactDir: dir(k),
          configMismatches: [],
          firstError: broken ? diag : null,
          errors: broken ? [diag] : [],
          failedTargets: broken ? [file.replace(/\.c$/, '.o')] : [],
          warnings: [],
          steps: side === 'base' ? 1 : r.int(1, 3),
          networkAttempt: false,
          logTail: broken
            ? [
                `make[4]: *** [scripts/Makefile.build:229: ${file.replace(/\.c$/, '.o')}] Error 1`,
                'make: *** [Makefile:224: __sub-make] Error 2',
              ]
            : [],
        };
      };
      const base = outcome('base');
      const series = outcome('series');
      const selftests = (side: 'base' | 'series', b: typeof base) => {
        const k = this.id(`selftests:${b.artifactKey}`, 64);
        return {
          status: 'ok' as const,
          cacheHit: side === 'base',
          durationMs: side === 'base' ? 0 : r.int(120_000, 400_000),
          artifactKey: k,
          artifactDir: `/var/lib/ksci/artifacts/${k.slice(0, 2)}/${k}`,
          runners: ['test_progs', 'test_progs-no_alu32', 'test_verifier'],
          files: r.int(1700, 1900),
          modules: true,
          libraries: ['/lib/x86_64-linux-gnu/libelf.so.1', '/lib/x86_64-linux-gnu/libz.so.1'],
          dropped: [],
          firstError: null,
          logTail: [],
        };
      };
      return {
        config,
        configHash: this.id(`confighash:${config}`, 64),
        base,
        series,
        perPatch: [],
        warnings: { before: warnings, after: warnings, added: [], removed: [] },
        selftests:
          config === 'bpf' && series.status === 'ok'
            ? { base: selftests('base', base), series: selftests('series', series) }
            : null,
      };
    });
    return BuildStageDataSchema.parse({
      toolchain: 'gcc',
      toolchainVersions: { gcc: 'gcc (Debian 14.2.0-19) 14.2.0', ld: 'GNU ld (GNU Binutils for Debian) 2.44' },
      builds,
    });
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // Test stage

  private remember(tree: string, rows: TestResult[]): void {
    for (const t of rows) {
      if (t.kernel !== 'base') continue;
      const k = `${tree}|${t.suite}|${t.test}`;
      const h = this.baseHistory.get(k);
      if (h) h.push(t.status);
      else this.baseHistory.set(k, [t.status]);
    }
  }

  private stability(tree: string, suite: string, tests: string[]): BaseStability {
    const out: BaseStability = {};
    for (const t of tests)
      out[t] = { recent: (this.baseHistory.get(`${tree}|${suite}|${t}`) ?? []).slice(-20).reverse() };
    return out;
  }

  /** The run's tests: the tree's fixed ones, then others of the pool; the special runs' failing test among them. */
  private runTests(run: RunPlan): { suite: 'smoke' | 'bpf'; test: string }[] {
    const tree = run.v.lineage.tree;
    const fixed = this.testPlan(tree);
    const want = run.special === 'failing' ? FAILING_TEST : run.special === 'hostile' ? HOSTILE_TEST : null;
    const extra = want ? [{ suite: 'bpf' as const, test: want }] : [];
    const taken = new Set([...fixed, ...extra].map((t) => t.test));
    const pool = BPF_POOL.filter((t) => !taken.has(t) && t !== FAILING_TEST && t !== HOSTILE_TEST);
    const fill = this.r
      .sample(pool, Math.max(0, this.nTests - fixed.length - extra.length))
      .map((test) => ({ suite: 'bpf' as const, test }));
    return [...fixed, ...extra, ...fill].slice(0, this.nTests);
  }

  private testData(run: RunPlan, build: BuildStageData): { suites: SuiteRunData[] } {
    const r = this.r;
    const tree = run.v.lineage.tree;
    const tests = this.runTests(run);
    const tracked = this.trackedIndex.get(run.id);
    const free = tests.filter(
      (t) => !FLAKY.includes(t.test) && t.test !== ALWAYS_FAILING && !ALWAYS_SKIPPED.has(t.test),
    );
    const newlyFailing =
      run.special === 'failing'
        ? FAILING_TEST
        : run.special === 'hostile'
          ? HOSTILE_TEST
          : run.kind === 'fail-test'
            ? (r.pick(free.length ? free : tests).test as string)
            : null;
    const splatTest = run.splat ? (newlyFailing ?? r.pick(tests.filter((t) => t.suite === 'bpf')).test) : null;
    const release = `6.12.0-rc${(Math.floor((run.createdAt - this.yearStart) / (30 * DAY)) % 7) + 1}-ksci+`;
    const w = run.windows.test;
    const suites: SuiteRunData[] = [];
    for (const suiteName of ['smoke', 'bpf'] as const) {
      const mine = tests.filter((t) => t.suite === suiteName);
      if (mine.length === 0) continue;
      const suite = this.suites[suiteName];
      const cfg = build.builds.find((b) => b.config === suite.config)!;
      const kernelRun = (side: 'base' | 'series') => {
        const b = cfg[side];
        const kernel = `${b.artifactDir}/bzImage`;
        const outcomes = mine.map((t) => {
          let attempts: TestStatus[] = ['pass'];
          if (ALWAYS_SKIPPED.has(t.test)) attempts = ['skip'];
          else if (t.test === ALWAYS_FAILING && tracked?.failing) attempts = ['fail', 'fail'];
          else if (FLAKY.includes(t.test)) {
            // On the base: failing now and then (every fifth run, shifted per test, and at random), so it flips.
            const k = FLAKY.indexOf(t.test);
            if (side === 'base')
              attempts = (tracked && (tracked.index + 2 * k) % 5 === 0) || r.chance(0.12) ? ['fail', 'fail'] : ['pass'];
            else attempts = r.chance(0.25) ? ['fail', 'pass'] : ['pass'];
          } else if (side === 'series' && t.test === newlyFailing) attempts = ['fail', 'fail'];
          const status = attempts[attempts.length - 1]!;
          const smoke = suiteName === 'smoke';
          return {
            name: t.test,
            attempts,
            last: {
              name: t.test,
              status,
              exitCode: smoke ? (status === 'fail' ? 1 : 0) : null,
              seconds: smoke ? Math.round(r.float() * 300) / 100 : null,
              output: status === 'fail' ? this.failureOutput(t.test, run.special === 'hostile', release) : [],
            },
          };
        });
        const splats: SplatSummary[] =
          side === 'series' && run.splat && suiteName === 'bpf'
            ? [
                {
                  kind: run.splat.kind,
                  title: run.splat.title,
                  fingerprint: run.splat.fingerprint,
                  test: splatTest,
                  excerpt: this.splatExcerpt(run.splat, release, run.special !== null),
                },
              ]
            : [];
        const bootSeconds = Math.round((1.8 + r.float()) * 10) / 10;
        return {
          commit: b.commit,
          kernel,
          cached: false,
          boots: [
            {
              tests: suiteName === 'bpf' ? ['test_progs'] : mine.map((t) => t.test),
              purpose: 'run' as const,
              outcome: {
                verdict: 'completed' as const,
                reason: 'all tests ran',
                excerpt: [],
                kernelRelease: release,
                bootSeconds,
                durationMs: Math.floor((w.end - w.start) / 4),
                accel: 'kvm',
              },
              consoleFile: `/var/lib/ksci/runs/${run.id}/test/${suiteName}/${side}/console-1.log`,
              host: `lab${(run.id.charCodeAt(0) % 3) + 1}:${4000 + (run.id.charCodeAt(1) % 50)}`,
            },
          ],
          tests: outcomes,
          splats,
          ignoredSplats: [],
          bootFailure: null,
        };
      };
      const base = kernelRun('base');
      const series = kernelRun('series');
      const troubled = series.tests
        .filter((t) => t.attempts.some((a) => a !== 'pass' && a !== 'skip'))
        .map((t) => t.name);
      const comparison = compareRuns(
        base.tests,
        series.tests,
        { base: base.splats, series: series.splats },
        troubled.length ? this.stability(tree, suiteName, troubled) : {},
      );
      const blamed = [
        ...comparison.newFailures.map((x) => x.name),
        ...comparison.newSplats.map((x) => x.test).filter((t): t is string => t !== null),
      ];
      suites.push({
        suite: suiteName,
        config: suite.config,
        base,
        series,
        comparison,
        reproducer: blamed.length
          ? reproducer(
              series.kernel,
              cfg.selftests?.series.artifactDir ?? null,
              suite,
              [...new Set(blamed)],
              series.commit,
              tree,
            )
          : [],
      });
    }
    return { suites };
  }

  private failureOutput(test: string, hostile: boolean, release: string): string[] {
    const name = test.replace(/^test_progs:/, '');
    const num = 40 + (Number.parseInt(createHash('sha1').update(name).digest('hex').slice(0, 6), 16) % 700);
    if (!test.startsWith('test_progs:'))
      return [
        `Linux version ${release} (gcc (Debian 14.2.0-19) 14.2.0)`,
        'tainted: 512',
        'FAIL: the kernel is tainted (512) before any test ran',
      ];
    if (hostile)
      return [
        'test_dynptr:PASS:skel_open 0 nsec',
        `dynptr_success:FAIL:${HOSTILE_SCRIPT} unexpected ${HOSTILE_IMG}: actual 1 != expected 0`,
        `#98/12  dynptr/test_dynptr_skb_meta_data ${HOSTILE_SCRIPT}:FAIL`,
        `#98     dynptr:FAIL ${HOSTILE_IMG}${HOSTILE_SCRIPT}`,
      ];
    if (test === FAILING_TEST)
      return [
        'test_xdp_metadata:PASS:open skeleton 0 nsec',
        'test_xdp_metadata:PASS:attach rx 0 nsec',
        'test_xdp_metadata:PASS:open xsk 0 nsec',
        'verify_xsk_metadata:PASS:rx_timestamp 0 nsec',
        'verify_xsk_metadata:FAIL:rx_hash unexpected rx_hash: actual 0 != expected 2412873154',
        'verify_skb_metadata:FAIL:meta_len unexpected meta_len: actual 0 != expected 32',
        '#587     xdp_metadata:FAIL',
      ];
    return [
      `test_${name}:PASS:open_and_load 0 nsec`,
      `test_${name}:PASS:attach 0 nsec`,
      `run_${name}:FAIL:retval unexpected retval: actual -22 != expected 0`,
      `#${num}/1   ${name}/basic:FAIL`,
      `#${num}     ${name}:FAIL`,
    ];
  }

  private splatExcerpt(s: SplatSpec, release: string, full: boolean): string[] {
    const r = this.r;
    const pid = String(r.int(200, 900));
    const lines = s.head.map((l) => l.replace('{pid}', pid).replace('{addr}', `ffff8881${r.hex(8)}`));
    lines.push(
      `CPU: 0 UID: 0 PID: ${pid} Comm: test_progs Not tainted ${release} #1`,
      'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2 04/01/2014',
      'Call Trace:',
      ' <TASK>',
    );
    if (s.kind === 'kasan')
      lines.push(' dump_stack_lvl+0x5d/0x80', ' print_report+0xce/0x630', ' kasan_report+0xd8/0x110');
    for (const f of full ? s.frames : s.frames.slice(0, 3))
      lines.push(` ${f}+0x${r.hex(2)}/0x${r.int(0x100, 0x900).toString(16)}`);
    lines.push(' </TASK>');
    return lines;
  }

  // -------------------------------------------------------------------------------------------------------------------------------
  // Perf stage

  private perfSuite(run: RunPlan, build: BuildStageData): PerfSuiteData {
    const r = this.r;
    const suite = this.suites.pktgen;
    const scenarios: PerfScenario[] = perfScenarios(suite, {});
    const cfg = build.builds.find((b) => b.config === suite.config)!;
    const clock = 'icount shift=0,sleep=off,align=off';
    const rounds = 5;
    const plan = { rounds: 8, minRounds: 5, warmup: 1, repetitions: 3 };
    const thresholds: SequentialThresholds = {
      ...CLOCK_THRESHOLDS.icount,
      minRounds: plan.minRounds,
      maxRounds: plan.rounds,
    };
    const baseRate: Record<string, number> = { 'dummy-xmit': 1_912_000, 'veth-xmit': 688_000, 'rx-meta': 1_204_000 };
    const change: Record<string, number> =
      run.special === 'perf' ? { 'dummy-xmit': 0.0004, 'veth-xmit': -0.0009, 'rx-meta': -0.041 } : {};
    const where = 'qemu tcg icount 1 vCPU';
    const env = { kernel: '', cpu_model: 'AMD EPYC 7763 64-Core Processor', governor: 'performance' };
    const samples: PerfSample[] = [];
    const sessions: AbRun['sessions'] = [];
    for (const { side, round } of sessionOrder(rounds)) {
      const release = side === 'base' ? '6.12.0-ksci+' : `6.12.0-ksci-00003-g${cfg.series.commit.slice(0, 12)}`;
      sessions.push({
        side,
        round,
        failure: null,
        kernelRelease: release,
        splats: [],
        logFile: `/var/lib/ksci/runs/${run.id}/perf/pktgen/${side}-${round}.console`,
        where,
      });
      for (let rep = 1; rep <= plan.repetitions; rep++)
        for (const sc of scenarios) {
          const rate = (baseRate[sc.name] ?? 900_000) * (1 + (side === 'series' ? (change[sc.name] ?? 0) : 0));
          const pps = Math.round(rate * (1 + 0.0003 * r.normal()));
          const count = Number(sc.env['PKTGEN_COUNT'] ?? 1_000_000);
          const usec = Math.round((count / pps) * 1e6);
          samples.push({
            scenario: sc.name,
            side,
            round,
            rep,
            pps,
            results: [
              {
                device: sc.name.startsWith('veth') ? 'veth0' : 'dummy0',
                packets: count,
                usec,
                idleUsec: Math.round(usec * 0.002),
                pktSize: 64,
                frags: 0,
                pps,
                mbps: Math.round((pps * 64 * 8) / 1e6),
                bps: pps * 64 * 8,
                errors: 0,
                params: { count: String(count), pkt_size: '64', clone_skb: '0', burst: '1' },
              },
            ],
            env: { ...env, kernel: release, where, clock },
          });
        }
    }
    const ab: AbRun = { clock, sessions, samples, invalid: [], stoppedBy: null };
    const verdicts = analyzeAb(ab, scenarios, thresholds, 'session');
    return {
      suite: suite.name,
      config: suite.config,
      base: { commit: cfg.base.commit, kernel: `${cfg.base.artifactDir}/bzImage` },
      series: { commit: cfg.series.commit, kernel: `${cfg.series.artifactDir}/bzImage` },
      plan: { ...plan, unit: 'session', runner: 'vm', append: { base: [], series: [] } },
      run: ab,
      verdicts,
      bisect: null,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------------------------
// Nightly history, change points and alerts

async function nightlyHistory(
  db: Db,
  seed: number,
  now: number,
  o: DashboardDataOptions,
): Promise<DashboardData['changePoints']> {
  const id = (what: string) => stableId(seed, what);
  const trees = TREES;
  const r = new Rand(seed ^ 0x27d4eb2f);
  const store = new ResultsStore(db);
  const days = o.nightlyDays;
  const names = Array.from({ length: o.scenarios }, (_, i) => {
    const base = NIGHTLY_SCENARIOS[i % NIGHTLY_SCENARIOS.length]!;
    return `pktgen/${i < NIGHTLY_SCENARIOS.length ? base : `${base}-${Math.floor(i / NIGHTLY_SCENARIOS.length) + 1}`}`;
  });
  const regressAt = Math.round(days * 0.4);
  const improveAt = Math.round(days * 0.75);
  const first = now - days * DAY + 2 * HOUR;
  const env = { clock: 'wall', kernel: '6.12.0', host: 'lab1' };
  const planted: { tree: string; scenario: string; night: number; direction: 'regression' | 'improvement' }[] = [
    { tree: trees[0], scenario: names[0]!, night: regressAt, direction: 'regression' },
    { tree: trees[0], scenario: names[1]!, night: improveAt, direction: 'improvement' },
  ];
  const nightTime = (tree: string, d: number) => first + d * DAY + ((trees.indexOf(tree as never) * 47) % 60) * MIN;
  for (const tree of trees) {
    const points = [];
    for (let d = 0; d < days; d++) {
      const t = nightTime(tree, d) + r.int(0, 15) * MIN;
      const commit = id(`nightly:${tree}:${d}`);
      for (const [i, scenario] of names.entries()) {
        const level = (1_900_000 - i * 123_000) * (tree === trees[0] ? 1 : 0.93);
        let factor = 1;
        if (tree === trees[0] && i === 0 && d >= regressAt) factor = 0.94;
        if (tree === trees[0] && i === 1 && d >= improveAt) factor = 1.05;
        const samples = [0, 1, 2].map(() => Math.round(level * factor * (1 + 0.005 * r.normal())));
        points.push({
          jobId: `repeat:nightly-${tree}:${t}`,
          tree,
          commit,
          scenario,
          value: median(samples),
          samples,
          env,
          measuredAt: iso(t),
        });
      }
    }
    await store.recordNightly(points);
  }
  // As trackNightly does it, over the whole history at once.
  const found: DashboardData['changePoints'] = [];
  for (const tree of trees) {
    for (const scenario of await store.nightlyScenarios(tree)) {
      const series = currentSeries(await store.nightlyHistory(tree, scenario));
      // changePointOptions reads only perf.nightly: the defaults of the config schema.
      const cpo = changePointOptions(
        { perf: { nightly: { alpha: 0.001, minSegment: 3 } } } as unknown as Config,
        series.clock,
      );
      const history: HistoryPoint[] = series.points.map((p) => ({
        commit: p.commit,
        time: p.measuredAt,
        value: p.value,
      }));
      const points = detectChangePoints(history, cpo);
      const alerted = (await store.alerts(tree, scenario)).map((a) => ({
        scenario,
        firstChanged: a.firstChanged,
        lastGood: a.lastGood,
        direction: a.direction,
      }));
      for (const cp of pendingAlerts(scenario, history, points, alerted)) {
        await store.recordAlert({
          tree,
          scenario,
          lastGood: cp.lastGood,
          firstChanged: cp.firstChanged,
          direction: cp.direction,
          change: cp.change,
          p: cp.p,
          report: nightlyAlertText(tree, scenario, cp, history),
        });
        // Alerted the night the change point became visible (minSegment nights after it), not at generation time.
        const seenAt = history[Math.min(history.length - 1, cp.index + cpo.minSegment - 1)]!.time;
        await db.query(
          'UPDATE perf_alerts SET created_at = $4 WHERE tree = $1 AND scenario = $2 AND first_changed = $3',
          [tree, scenario, cp.firstChanged, new Date(Date.parse(seenAt) + 20 * MIN).toISOString()],
        );
        found.push({ tree, scenario, lastGood: cp.lastGood, firstChanged: cp.firstChanged, direction: cp.direction });
      }
    }
  }
  const expected = planted.map((p) => ({
    tree: p.tree,
    scenario: p.scenario,
    lastGood: id(`nightly:${p.tree}:${p.night - 1}`),
    firstChanged: id(`nightly:${p.tree}:${p.night}`),
    direction: p.direction,
  }));
  const key = (c: DashboardData['changePoints'][number]) =>
    `${c.tree}|${c.scenario}|${c.lastGood}|${c.firstChanged}|${c.direction}`;
  if (found.length !== 2 || expected.some((e) => !found.some((f) => key(f) === key(e))))
    throw new Error(
      `dashboard-data: the change-point detector found ${JSON.stringify(found)}, not the planted ${JSON.stringify(expected)}`,
    );
  return expected;
}

// Last, so that everything it uses is defined: the worker's entry point.
if (!isMainThread && (workerData as { tag?: unknown } | null)?.tag === WORKER_TAG) void workerMain();
