// Resident memory of a process, as the bench reports it for the gate and each expert actor.
import { readFileSync } from 'node:fs';

/** A process's resident set in MB, from /proc (NaN when it is gone). */
export function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}
