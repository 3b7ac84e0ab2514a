import { z } from 'zod';
import type { Report } from './render.js';

/** The report stage's outcome data, read back by the coordinator. */
export const ReportSchema: z.ZodType<Report> = z.object({
  verdict: z.enum(['pass', 'fail', 'error', 'cancelled', 'skipped']),
  headline: z.string(),
  markdown: z.string(),
  text: z.string(),
});
