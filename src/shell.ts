/**
 * One POSIX shell word that stands for exactly `s`: single quotes, with each
 * `'` written as `'\''`. Nothing is special inside single quotes (no `$`,
 * backquote, backslash or newline processing), so any string is safe.
 */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new Error('a shell word cannot contain a NUL byte');
  // Bare words only when nothing in them is special (no '=': a first word 'a=b' would be an assignment).
  if (/^[A-Za-z0-9_@%+:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line of quoted words. */
export function shJoin(words: string[]): string {
  return words.map(shQuote).join(' ');
}
