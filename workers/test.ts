/**
 * Entry point of the "test" worker role: `node dist/workers/test.js`
 * (same as `ksci worker --role test`). It boots the kernels the build stage
 * made in QEMU, inside bubblewrap, and runs the test suites in them.
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'worker', '--role', 'test', ...process.argv.slice(2)]);
