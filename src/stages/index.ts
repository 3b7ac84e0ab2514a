import type { StageDefinition } from '../pipeline/stage.js';
import { applyDetails } from '../report/apply.js';
import { applyStage } from './apply.js';
import { reportStage } from './report.js';

/**
 * The pipeline, in order. Build, VM tests and pktgen runs are added here as
 * they land; nothing else in the flow changes.
 */
export function pipelineStages(): StageDefinition[] {
  return [applyStage, reportStage({ apply: applyDetails })];
}

export function rolesOf(stages: StageDefinition[]): string[] {
  return [...new Set(stages.map((s) => s.role))];
}
