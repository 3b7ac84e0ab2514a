/**
 * A VM host as its own process, for the ksci-vm tests: it starts the
 * workers of the given roles exactly as `ksci worker --role ...` does
 * (startWorkers), so "test" checks that the test role also boots VMs from
 * the queue and "vm" the VM-only host. Prints "ready" once consuming;
 * SIGTERM stops it at once (its boots are left to stall).
 * Usage: node vm-worker.js <config-json> <role[,role...]>
 */
import { openServices, startWorkers } from '../app/services.js';
import { ConfigSchema } from '../config/schema.js';
import { createLogger } from '../log.js';
import { pipelineStages } from '../stages/index.js';

const config = ConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const roles = (process.argv[3] ?? 'vm').split(',');
// Warnings and errors reach the test's stderr: a refused or failed boot says why there.
const log = createLogger('vm-worker', process.env['KSCI_LOG_LEVEL'] ?? 'warn');
const services = await openServices(config, log, { db: false });
const workers = await startWorkers(pipelineStages(config), roles, services);
if (!workers.vm) {
  log.error({ roles }, 'this process consumes no VM queue; see the error above');
  process.exit(3);
}
process.on('SIGTERM', () => {
  void workers.close(true).finally(() => services.close().finally(() => process.exit(0)));
});
process.stdout.write('ready\n');
