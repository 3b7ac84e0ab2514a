import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { copyRegular } from '../sandbox/outputs.js';

const ManifestSchema = z.object({
  key: z.string(),
  createdAt: z.string(),
  /** What produced it, for humans and for reproducing it. */
  inputs: z.record(z.string(), z.string()),
  files: z.record(z.string(), z.object({ bytes: z.number() })),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export interface ArtifactSet {
  key: string;
  dir: string;
  manifest: Manifest;
  path(name: string): string;
}

/**
 * Build outputs by key (a hash of everything that went into them). A set
 * appears whole or not at all: it is written to a temporary directory and
 * renamed into place, so a worker killed mid-copy leaves no half set that
 * would later pass for a cache hit.
 */
export class ArtifactStore {
  constructor(readonly root: string) {}

  private dirOf(key: string): string {
    if (!/^[0-9a-f]{16,}$/.test(key)) throw new Error(`bad artifact key ${key}`);
    return join(this.root, key.slice(0, 2), key);
  }

  get(key: string): ArtifactSet | null {
    const dir = this.dirOf(key);
    const file = join(dir, 'manifest.json');
    if (!existsSync(file)) return null;
    const parsed = ManifestSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) return null;
    const manifest = parsed.data;
    if (Object.keys(manifest.files).some((f) => !existsSync(join(dir, f)))) return null;
    return { key, dir, manifest, path: (n) => join(dir, n) };
  }

  /**
   * Stores the files (host paths) under their base names, or under the
   * relative name given with one (`{ from, name }`: a flavour's
   * no_alu32/x.bpf.o must not overwrite x.bpf.o).
   */
  put(key: string, files: (string | { from: string; name: string })[], inputs: Record<string, string>): ArtifactSet {
    const dir = this.dirOf(key);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    const listed: Manifest['files'] = {};
    try {
      for (const f of files) {
        const from = typeof f === 'string' ? f : f.from;
        const name = typeof f === 'string' ? basename(f) : f.name;
        if (name.startsWith('/') || name.split('/').includes('..'))
          throw new Error(`artifact file name ${name} leaves the artifact directory`);
        mkdirSync(dirname(join(tmp, name)), { recursive: true });
        // Copied, not hard-linked: the next build in the same build dir
        // rewrites some outputs in place (bzImage is truncated and written).
        // Never through a link: the files come from directories untrusted
        // builds wrote (a bzImage that is a link to a host file is refused).
        listed[name] = { bytes: copyRegular(from, join(tmp, name)) };
      }
      const manifest: Manifest = { key, createdAt: new Date().toISOString(), inputs, files: listed };
      writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
      return { key, dir, manifest, path: (n) => join(dir, n) };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
