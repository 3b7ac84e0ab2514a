import type { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { WorkerInfo } from '../queue/presence.js';
import type { Db } from '../store/db.js';
import type { Html } from './html.js';

/** What the live pages read from Redis; absent when the dashboard runs without it (tests of the database pages). */
export interface LiveState {
  /** Job counts per queue, by state. */
  queues(): Promise<{ queue: string; counts: Record<string, number>; workers: number }[]>;
  workers(): Promise<WorkerInfo[]>;
  /** Perf hosts a perf job holds now (src/perf/hostlock.ts), and how long the lock lasts unless renewed. */
  hostLocks(): Promise<{ host: string; ttlSeconds: number }[]>;
}

/** What a page's loader may read: the results database, the config, live queue state. Loaders never write. */
export interface ReadDeps {
  db: Db;
  config: Config;
  live: LiveState | null;
}

/** Who is looking, for the parts of a page that only an admin sees (forms carry the CSRF token). */
export interface View {
  user: string | null;
  csrf: string | null;
  /** The request's path and query, for links that keep the current filters. */
  url: string;
}

/**
 * A page of the dashboard as data: where it lives, its input and output
 * schemas, a loader and a renderer. One definition gives the HTML page at
 * `path`, its JSON at `/api` + `path`, and its entry in the OpenAPI
 * document, so the three cannot drift apart.
 */
export interface PageDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  id: string;
  /** Fastify route path; `:name` segments are part of the input. */
  path: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** In the top navigation, under this label. */
  nav?: string;
  /** Path parameters and query string, merged; coerce numbers here. */
  input: I;
  output: O;
  /** null: nothing there (404). */
  load(deps: ReadDeps, input: z.output<I>): Promise<z.output<O> | null>;
  title(data: z.output<O>): string;
  /** Scripts the page needs (charts). */
  scripts?: string[];
  render(data: z.output<O>, view: View): Html;
}

/** Keeps the input and output types of one page tied together. */
export function definePage<I extends z.ZodType, O extends z.ZodType>(p: PageDef<I, O>): PageDef<I, O> {
  return p;
}

/** uPlot, shipped from its npm package, and the dashboard's chart drawing (src/web/assets/charts.js). */
export const CHART_SCRIPTS = ['/assets/uplot/uPlot.iife.min.js', '/assets/charts.js'];
