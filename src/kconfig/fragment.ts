import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';

/**
 * Kconfig fragments and .config files share one syntax: `CONFIG_FOO=y`,
 * `CONFIG_BAR="str"`, `CONFIG_N=123`, and `# CONFIG_BAZ is not set` (= n).
 * Other comments and blank lines carry nothing.
 */
export interface KconfigSetting {
  symbol: string;
  /** y, m, n, a number, or a quoted string exactly as written. */
  value: string;
}

const ASSIGN = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$/;

/** Settings in file order; `where` names the file in errors. */
export function parseKconfig(text: string, where: string): KconfigSetting[] {
  const out: KconfigSetting[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const unset = NOT_SET.exec(line);
    if (unset) {
      out.push({ symbol: unset[1]!, value: 'n' });
      return;
    }
    if (line.startsWith('#')) return;
    const m = ASSIGN.exec(line);
    if (!m || m[2] === '') {
      throw new UsageError(
        `${where}:${i + 1}: not a Kconfig setting: ${JSON.stringify(raw.slice(0, 120))}`,
        'lines are CONFIG_FOO=y, CONFIG_FOO="text", "# CONFIG_FOO is not set", or # comments',
      );
    }
    out.push({ symbol: m[1]!, value: m[2]! });
  });
  return out;
}

export interface Fragment {
  name: string;
  text: string;
}

export interface Requested {
  value: string;
  /** The fragment whose line won (later fragments override earlier ones, as merge_config.sh does). */
  from: string;
}

export function requestedSettings(fragments: Fragment[]): Map<string, Requested> {
  const wanted = new Map<string, Requested>();
  for (const f of fragments)
    for (const s of parseKconfig(f.text, f.name)) wanted.set(s.symbol, { value: s.value, from: f.name });
  return wanted;
}

export interface ConfigMismatch {
  symbol: string;
  requested: string;
  /** What olddefconfig left: null when the symbol is absent (its dependencies are off, or it does not exist in this tree). */
  actual: string | null;
  from: string;
}

/**
 * Options a fragment asked for that did not survive olddefconfig. Kconfig
 * drops a request silently when a dependency is missing; merge_config.sh
 * only prints a warning. A build that quietly lacks CONFIG_NET_NS fails its
 * tests for the wrong reason, so this list must be empty.
 */
export function verifyConfig(requested: Map<string, Requested>, finalConfig: string): ConfigMismatch[] {
  const actual = new Map(parseKconfig(finalConfig, '.config').map((s) => [s.symbol, s.value]));
  const out: ConfigMismatch[] = [];
  for (const [symbol, want] of requested) {
    const got = actual.get(symbol) ?? null;
    const ok = want.value === 'n' ? got === null || got === 'n' : got === want.value;
    if (!ok) out.push({ symbol, requested: want.value, actual: got, from: want.from });
  }
  return out;
}

export function describeMismatch(m: ConfigMismatch): string {
  const got =
    m.actual === null ? 'absent (a dependency is off, or the option does not exist in this tree)' : `=${m.actual}`;
  return `${m.symbol}=${m.requested} (from ${m.from}) ended up ${got}`;
}

/** Identity of a config's inputs: the starting target and each fragment's name and text, in order. */
export function configHash(base: string, fragments: Fragment[], arch: string): string {
  const h = createHash('sha256');
  h.update(`arch ${arch}\nbase ${base}\n`);
  for (const f of fragments) h.update(`fragment ${f.name} ${Buffer.byteLength(f.text)}\n${f.text}`);
  return h.digest('hex');
}
