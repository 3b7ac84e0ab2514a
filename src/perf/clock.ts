/**
 * Which clock a throughput number was measured by. `wall`: pktgen's own
 * timing on a guest (or host) whose time is the host's, so host load moves
 * the numbers. `icount`: QEMU counts instructions and guest time advances
 * per instruction (src/vm/qemu.ts IcountSettings), so pktgen's pps is
 * packets per guest-instruction budget: what the kernel's code path costs
 * in instructions, and nothing of cache misses, memory bandwidth or host
 * load. Numbers of two clocks are never compared.
 */
import { type IcountSettings, icountArg } from '../vm/qemu.js';

export type ClockName = 'icount' | 'wall';

export type PerfClock = { name: 'wall' } | { name: 'icount'; icount: IcountSettings };

/** How a sample records its clock: "wall", "icount shift=0,sleep=off,align=off". */
export function clockLabel(c: PerfClock): string {
  return c.name === 'wall' ? 'wall' : `icount ${icountArg(c.icount)}`;
}

/**
 * perf.clock `auto`: icount where it can be (a QEMU guest under TCG), wall
 * under KVM (icount needs TCG, and KVM's wall clock is steady enough) and on
 * bare-metal hosts.
 */
export function resolveClock(
  want: 'auto' | ClockName,
  where: { runner: 'vm' | 'host'; accel: 'kvm' | 'tcg' },
): ClockName {
  if (want !== 'auto') return want;
  return where.runner === 'vm' && where.accel === 'tcg' ? 'icount' : 'wall';
}

/**
 * Guest instructions per packet under icount: guest time advances 2^shift
 * ns per instruction, so one guest second is 1e9 / 2^shift instructions,
 * all of them on pktgen's thread while it runs (one vCPU).
 */
export function instructionsPerPacket(pps: number, shift: number): number {
  return 1e9 / 2 ** shift / pps;
}

/** The icount shift a clock label (clockLabel) carries, or null for the wall clock. */
export function icountShift(label: string): number | null {
  const m = /^icount shift=(\d+)/.exec(label);
  return m ? Number(m[1]) : null;
}

/** What a number of this clock (its label) means, for reports. */
export function clockMeaning(label: string): string {
  return label.startsWith('icount')
    ? `clock ${label}: guest time counts instructions, so the rates measure guest instructions per packet; cache and memory effects are not measured`
    : 'clock wall: guest time is the host time, so the rates include cache, memory and host-load effects';
}
