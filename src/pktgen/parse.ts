/**
 * What the kernel's pktgen says about a run, read from /proc/net/pktgen/<dev>
 * (net/core/pktgen.c, pktgen_if_show). Pure: the scenario scripts copy those
 * files out of the guest or the host, and this turns them into numbers or a
 * reason the run does not count.
 *
 * The "Result:" line is the only part that says whether a run happened:
 * pktgen writes `OK: <usec>(c<busy>+d<idle>) usec, <pkts> (<size>byte,<n>frags)`
 * and the pps line only at the end of a run, but after every accepted
 * parameter it writes `OK: <param>=<value>` there too, and `Idle` before any
 * run, so "starts with OK" proves nothing.
 */

export interface PktgenResult {
  /** As pktgen names it: `dummy0`, or `dummy0@1` for a device added to a second thread. */
  device: string;
  /** Packets sent (pkts-sofar). */
  packets: number;
  /** Wall time of the run, and the part of it pktgen spent idle (waiting on a full queue or a delay). */
  usec: number;
  idleUsec: number;
  pktSize: number;
  frags: number;
  pps: number;
  mbps: number;
  bps: number;
  /** Transmit errors; in netif_receive mode, packets the stack dropped. */
  errors: number;
  /** The parameters the run used, from the Params: block (count, clone_skb, burst, ...). */
  params: Record<string, string>;
}

export type PktgenParse = { ok: true; result: PktgenResult } | { ok: false; device: string; reason: string };

export interface PktgenExpectation {
  /** The count the scenario asked for; a run that sent fewer was stopped early. Omit for a run stopped on purpose after a duration. */
  count?: number;
}

// frags is -1 in a run that never built a packet (a veth whose peer is down).
const RESULT_OK = /^Result: OK: (\d+)\(c(\d+)\+d(\d+)\) usec, (\d+) \((\d+)byte,(-?\d+)frags\)\s*$/;
const PPS_LINE = /^\s*(\d+)pps (\d+)Mb\/sec \((\d+)bps\) errors: (\d+)\s*$/;

export function parsePktgenDevice(text: string, device: string, expect: PktgenExpectation = {}): PktgenParse {
  const bad = (reason: string): PktgenParse => ({ ok: false, device, reason });
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const at = lines.findIndex((l) => l.startsWith('Result:'));
  if (at < 0) return bad(`no "Result:" line in pktgen's ${device} file: not a /proc/net/pktgen device file`);
  const resultLine = lines[at]!;
  const m = RESULT_OK.exec(resultLine);
  if (!m) {
    const said = resultLine.slice('Result:'.length).trim();
    return bad(
      said === 'Idle'
        ? `pktgen never ran on ${device} (Result: Idle)`
        : `pktgen did not finish a run on ${device}: "Result: ${said}"`,
    );
  }
  const p = PPS_LINE.exec(lines[at + 1] ?? '');
  if (!p) return bad(`pktgen's result for ${device} has no pps line after "${resultLine}"`);
  const [usec, , idleUsec, packets, pktSize, frags] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const [pps, mbps, bps, errors] = p.slice(1).map(Number) as [number, number, number, number];
  const result: PktgenResult = {
    device,
    packets,
    usec,
    idleUsec,
    pktSize,
    frags,
    pps,
    mbps,
    bps,
    errors,
    params: parseParams(lines.slice(0, at)),
  };
  if (packets === 0 || usec === 0) return bad(`pktgen sent nothing on ${device} (${packets} packets in ${usec} usec)`);
  // In netif_receive mode pktgen counts a packet the stack dropped (NET_RX_DROP)
  // as an error: a scenario that drops on purpose (rx-meta, at tc) has as many
  // "errors" as packets. Only transmit errors mean the figure is wrong.
  if (errors > 0 && result.params['xmit_mode'] !== 'netif_receive') {
    return bad(
      `pktgen counted ${errors} transmit errors on ${device}: its ${pps} pps include packets the device refused`,
    );
  }
  if (expect.count !== undefined && expect.count > 0 && packets < expect.count) {
    return bad(`pktgen on ${device} stopped early: ${packets} of ${expect.count} packets sent`);
  }
  return { ok: true, result };
}

/**
 * The Params: block: `key: value` pairs, several per line, some keys with
 * spaces ("Flags:"), some values empty (`dst_max: `). Only the run-shaping
 * ones matter to a reader, so each `word: value` with a single-token value is kept.
 */
function parseParams(lines: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const line of lines) {
    if (line.startsWith('Current:')) break;
    const body = line.replace(/^Params:/, '');
    for (const m of body.matchAll(/([A-Za-z_]+): +(\S+)/g)) {
      const [, key, value] = m as unknown as [string, string, string];
      // An empty value ("src_min:   src_max:") would otherwise take the next key as its value.
      if (!value.endsWith(':') && !(key in params)) params[key] = value;
    }
    const count = /\bcount (\d+)/.exec(body);
    if (count) params['count'] = count[1]!;
  }
  return params;
}

/** pktgen's device file names: `dummy0`, `dummy0@1`; anything else a scenario left is not one. */
export const PKTGEN_FILE = /^pktgen\.([A-Za-z0-9_.:-]+(?:@\d+)?)$/;

/**
 * All of one run's device results, from the files a scenario left
 * (`pktgen.<device>` each). The run counts only if every device did: a
 * thread that never started would otherwise show up as lower throughput.
 */
export function parseRunFiles(
  files: Record<string, Buffer | string>,
  expect: PktgenExpectation = {},
): { ok: true; results: PktgenResult[]; pps: number } | { ok: false; reason: string } {
  const devices = Object.keys(files)
    .map((f) => [f, PKTGEN_FILE.exec(f)?.[1]] as const)
    .filter((x): x is readonly [string, string] => x[1] !== undefined)
    .sort((a, b) => a[1].localeCompare(b[1]));
  if (devices.length === 0)
    return { ok: false, reason: 'the scenario left no pktgen.<device> file: pktgen did not run' };
  const results: PktgenResult[] = [];
  const problems: string[] = [];
  for (const [file, device] of devices) {
    const r = parsePktgenDevice(files[file]!.toString(), device, expect);
    if (r.ok) results.push(r.result);
    else problems.push(r.reason);
  }
  if (problems.length) return { ok: false, reason: problems.join('; ') };
  return { ok: true, results, pps: results.reduce((s, r) => s + r.pps, 0) };
}

/** The environment file a scenario writes (`key=value` lines): kernel, CPU model, governor. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return env;
}
