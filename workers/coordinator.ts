/**
 * Entry point of the coordinator: `node dist/workers/coordinator.js`
 * (same as `ksci serve`). The only process that writes results.
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'serve', ...process.argv.slice(2)]);
