import type { Config } from '../config/schema.js';
import type { StageDefinition } from '../pipeline/stage.js';
import { applyDetails } from '../report/apply.js';
import { buildDetails } from '../report/build.js';
import { testDetails } from '../report/test.js';
import { applyStage } from './apply.js';
import { buildStage } from './build.js';
import { reportStage } from './report.js';
import { testStage } from './test.js';
import { perfStage } from './perf.js';
import { perfDetails } from '../report/perf.js';

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
