import type { Config } from '../config/schema.js';
import type { StageDefinition } from '../pipeline/stage.js';
import { applyDetails } from './apply/result.js';
import { buildDetails } from './build/result.js';
import { testDetails } from './test/result.js';
import { applyStage } from './apply/stage.js';
import { buildStage } from './build/stage.js';
import { reportStage } from './report/stage.js';
import { testStage } from './test/stage.js';
import { perfStage } from './perf/stage.js';
import { perfDetails } from './perf/result.js';

/**
 * The pipeline, in order. Build, VM tests and pktgen runs are added here as
 * they land; nothing else in the flow changes.
 */
export function pipelineStages(config?: Pick<Config, 'stages'>): StageDefinition[] {
  const chosen = [applyStage, buildStage, testStage, perfStage].filter(
    (s) => !config || config.stages.includes(s.name as Config['stages'][number]),
  );
  return [...chosen, reportStage({ apply: applyDetails, build: buildDetails, test: testDetails, perf: perfDetails })];
}

export function rolesOf(stages: StageDefinition[]): string[] {
  return [...new Set(stages.map((s) => s.role))];
}
