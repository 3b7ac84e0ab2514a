/**
 * Entry point of the "build" worker role: `node dist/workers/build.js`
 * (same as `ksci worker --role build`). It consumes only the build queues
 * (arch-toolchain) this host can serve, and builds in bubblewrap.
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'worker', '--role', 'build', ...process.argv.slice(2)]);
