import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StageDefinition, StageResult } from '../pipeline/stage.js';

/** Stages with scripted behaviour, for tests of the pipeline machinery itself. */
export function scriptedStage(
  name: string,
  run: StageDefinition['run'],
  extra: Partial<StageDefinition> = {},
): StageDefinition {
  return { name, needs: [], role: name, concurrency: 1, wantsSeries: false, run, ...extra };
}

/** Hangs the first time (leaving a marker file), passes every later time. */
export function markerStage(dataDir: string): StageDefinition {
  const marker = join(dataDir, 'stall-marker');
  return scriptedStage('work', async (ctx): Promise<StageResult> => {
    if (!existsSync(marker)) {
      writeFileSync(marker, String(process.pid));
      await sleep(10 * 60_000, undefined, { signal: ctx.signal });
    }
    return { status: 'passed', summary: `done by pid ${process.pid}`, data: { pid: process.pid } };
  });
}
