/**
 * Entry point of the "apply" worker role: `node dist/workers/apply.js`
 * (same as `ksci worker --role apply`). Configuration comes from the usual
 * places (KSCI_CONFIG, REDIS_URL, ...).
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'worker', '--role', 'apply', ...process.argv.slice(2)]);
