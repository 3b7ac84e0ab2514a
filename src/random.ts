/**
 * mulberry32: a tiny, fast seeded PRNG in [0, 1). The same seed gives the
 * same sequence on every run, which is what bootstrap intervals (a verdict
 * must not change between two renderings), synthetic test data and
 * generated benchmark inputs need; it is not for anything secret.
 */
export function seededRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
