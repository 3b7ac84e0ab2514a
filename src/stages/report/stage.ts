import type { StageDefinition } from '../../pipeline/stage.js';
import { renderReport, type DetailRenderer } from './render.js';

/**
 * The last stage: turns the outcomes into the report. It needs nothing, so
 * it runs after a conflict, a failed build or an infrastructure error too.
 */
export function reportStage(stages: readonly StageDefinition[]): StageDefinition {
  const details: Record<string, DetailRenderer> = Object.fromEntries(
    stages.flatMap((s) => (s.details ? [[s.name, s.details.bind(s)]] : [])),
  );
  return {
    name: 'report',
    needs: [],
    role: 'report',
    concurrency: 4,
    wantsSeries: false,
    async run(ctx) {
      const report = renderReport(ctx.run, ctx.upstream.outcomes, details);
      return { status: 'passed', summary: report.headline, data: report };
    },
  };
}
