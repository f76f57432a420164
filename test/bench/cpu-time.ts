// CPU time of this process and its descendants, by kind of process, from /proc: where the cores went during a run.
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports a process's CPU in clock ticks of USER_HZ (100 per second on every mainstream architecture). */
const TICK_MS = 1000 / 100;

/** The kinds cpuByProcess sums by: this process is the gate (with the supervisor and the client), children the rest. */
export const CPU_GATE = 'gate process (+ supervisor, client)';
export const CPU_ACTORS = 'expert actors';
export const CPU_SERVER = 'nats-server';

function kindOf(pid: number): string {
  if (pid === process.pid) return CPU_GATE;
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (cmd.some((c) => c.includes('nats-server'))) return CPU_SERVER;
  if (cmd.some((c) => c.includes('expert-process'))) return CPU_ACTORS;
  return cmd[0];
}

/**
 * CPU milliseconds (user + system) of this process and each of its descendants, summed by kind; each kind's
 * kernel share also under "<kind> (system)" (page faults and mmap of fresh buffers show there).
 */
export function cpuByProcess(): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, ms: number) => out.set(k, (out.get(k) ?? 0) + ms);
  const visit = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // after the command name, which may itself hold spaces and parentheses
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const kind = kindOf(pid);
      add(kind, (Number(f[11]) + Number(f[12])) * TICK_MS);
      add(`${kind} (system)`, Number(f[12]) * TICK_MS);
      for (const t of readdirSync(`/proc/${pid}/task`)) {
        const children = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
        for (const c of children ? children.split(' ') : []) visit(Number(c));
      }
    } catch {
      // gone meanwhile
    }
  };
  visit(process.pid);
  return out;
}

/** What each kind used between two readings of cpuByProcess. */
export function cpuSince(before: Map<string, number>, after = cpuByProcess()): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}
