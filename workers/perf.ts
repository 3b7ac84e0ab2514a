/**
 * Entry point of the "perf" worker role: `node dist/workers/perf.js`
 * (same as `ksci worker --role perf`). It boots base and series kernels in
 * turn, in QEMU or on a bare-metal host, and measures pktgen throughput.
 * Run one per machine: two perf workers on one host measure each other.
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'worker', '--role', 'perf', ...process.argv.slice(2)]);
