/**
 * Entry point of the "report" worker role: `node dist/workers/report.js`
 * (same as `ksci worker --role report`). Configuration comes from the usual
 * places (KSCI_CONFIG, REDIS_URL, ...).
 */
import { main } from '../src/cli/main.js';

await main([process.argv[0] ?? 'node', 'ksci', 'worker', '--role', 'report', ...process.argv.slice(2)]);
