import { stageOn, type Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { StageDefinition } from '../pipeline/stage.js';
import { applyStage } from './apply/stage.js';
import { buildStage } from './build/stage.js';
import { perfStage } from './perf/stage.js';
import { reportStage } from './report/stage.js';
import { testStage } from './test/stage.js';

/**
 * The registry: every stage ksci has, in pipeline order. The report stage
 * follows whichever of them a configuration turns on. Adding a stage is a
 * folder beside these and one line here.
 */
export const STAGES: readonly StageDefinition[] = [applyStage, buildStage, testStage, perfStage];

/**
 * The stages of a run under this configuration (config.stages; null: all),
 * checked: every name is a stage, and every stage has the stages it needs.
 */
export function pipelineStages(config?: Pick<Config, 'stages'>): StageDefinition[] {
  const unknown = (config?.stages ?? []).filter((n) => !STAGES.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown stage(s) in the config's stages: ${unknown.join(', ')}`,
      `ksci's stages are ${STAGES.map((s) => s.name).join(', ')} (the report always runs)`,
    );
  }
  const chosen = STAGES.filter((s) => !config || stageOn(config, s.name));
  for (const s of chosen) {
    const missing = s.needs.filter((n) => !chosen.some((c) => c.name === n));
    if (missing.length > 0) {
      throw new UsageError(
        `the ${s.name} stage needs the ${missing.join(' and ')} stage${missing.length > 1 ? 's' : ''}, which the config's stages leave out`,
        `add ${missing.join(', ')} to stages in the config, or remove ${s.name}`,
      );
    }
  }
  return [...chosen, reportStage(chosen)];
}

export function rolesOf(stages: StageDefinition[]): string[] {
  return [...new Set(stages.map((s) => s.role))];
}
