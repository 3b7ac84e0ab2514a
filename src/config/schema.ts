import { z } from 'zod';

/** Where a tree's history comes from. */
const TreeSource = z.discriminatedUnion('kind', [
  z.object({
    /** Any git URL or local path; ksci keeps its own bare mirror and never touches the original. */
    kind: z.literal('git'),
    url: z.string().min(1),
  }),
  z.object({
    /**
     * Debian's linux-source-X package: the tarball is unpacked and committed
     * once into a git repository in the cache, so a new user needs no checkout.
     */
    kind: z.literal('debian-linux-source'),
    tarball: z.string().min(1).default('/usr/src/linux-source-6.12.tar.xz'),
  }),
]);

const Tree = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'tree names are [A-Za-z0-9._-]'),
  source: TreeSource,
  branch: z.string().min(1).default('master'),
  /** Subject tags that route a series here, e.g. [bpf-next]. */
  tags: z.array(z.string().min(1).transform((s) => s.toLowerCase())).default([]),
});

export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    /** null: ksci starts a private redis-server on a unix socket in dataDir. */
    redisUrl: z.string().url().nullable().default(null),
    /** null: PGlite (in-process PostgreSQL) in dataDir. */
    databaseUrl: z.string().min(1).nullable().default(null),
    trees: z.array(Tree).min(1),
    /** Tree used when no subject tag matches. */
    defaultTree: z.string().min(1),
    queue: z
      .object({
        /** Attempts for infrastructure failures; bad input is never retried. */
        attempts: z.number().int().min(1).max(20).default(3),
        backoffMs: z.number().int().min(0).default(5000),
        /** A job whose worker stops renewing its lock for this long is handed to another worker. */
        lockDurationMs: z.number().int().min(1000).default(30000),
        stalledIntervalMs: z.number().int().min(500).default(30000),
      })
      .default({ attempts: 3, backoffMs: 5000, lockDurationMs: 30000, stalledIntervalMs: 30000 }),
    apply: z
      .object({
        /** How many base commits to compare subjects against when looking for an already-merged series. */
        mergedCheckDepth: z.number().int().min(0).default(200),
      })
      .default({ mergedCheckDepth: 200 }),
    limits: z
      .object({
        /** Refuse an mbox larger than this before parsing it. */
        maxMboxBytes: z.number().int().positive().default(64 * 1024 * 1024),
        /** Refuse a single message larger than this (the 50 MB "patch" is an attack, not a patch). */
        maxMessageBytes: z.number().int().positive().default(10 * 1024 * 1024),
        maxPatches: z.number().int().positive().default(500),
      })
      .default({ maxMboxBytes: 64 * 1024 * 1024, maxMessageBytes: 10 * 1024 * 1024, maxPatches: 500 }),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    for (const t of cfg.trees) {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['trees'], message: `tree "${t.name}" is defined twice` });
      names.add(t.name);
    }
    if (!names.has(cfg.defaultTree)) {
      ctx.addIssue({ code: 'custom', path: ['defaultTree'], message: `defaultTree "${cfg.defaultTree}" is not one of the trees` });
    }
    const tagOwner = new Map<string, string>();
    for (const t of cfg.trees) {
      for (const tag of t.tags) {
        const other = tagOwner.get(tag);
        if (other) ctx.addIssue({ code: 'custom', path: ['trees'], message: `subject tag "${tag}" routes to both "${other}" and "${t.name}"` });
        tagOwner.set(tag, t.name);
      }
    }
  });

export type Config = z.infer<typeof ConfigSchema>;
export type TreeConfig = Config['trees'][number];
