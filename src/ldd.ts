/**
 * `ldd` output to the libraries a binary needs: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`
 * and the loader `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
 */
export function parseLdd(out: string): string[] {
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}
