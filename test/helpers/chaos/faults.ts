// Process faults (kill -9, SIGSTOP/SIGCONT) and the clocks that time what follows them.
import { setTimeout as sleep } from 'node:timers/promises';

/** Sends `signal` to `pid`; false when the process is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

export const kill9 = (pid: number) => signal(pid, 'SIGKILL');
export const pause = (pid: number) => signal(pid, 'SIGSTOP');
export const resume = (pid: number) => signal(pid, 'SIGCONT');

/** True while a process with this pid exists (zombies included). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `cond` every `everyMs` until it is true (returns the time it took) or `timeoutMs` passes (returns undefined). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number | undefined> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) return undefined;
    await sleep(everyMs);
  }
}

/** What one fault was and what followed it; times are ms after `at`. */
export interface FaultRecord {
  kind: string;
  target: string;
  at: number;
  /** Until when the fault lasted (SIGSTOP, proxy modes, a stopped server); a point fault has none. */
  until?: number;
  /** First increase of the gate's redirect counter after the fault. */
  redirectMs?: number;
  /** First hedge (a second replica asked because the first is slow) after the fault. */
  hedgeMs?: number;
  /** Hedges from the fault until 3 s after it ended. */
  hedges?: number;
  /** From the fault to the supervisor showing the child running again with a new pid. */
  restartMs?: number;
  /** Longest stretch without any successful completion, in the 10 s after the fault. */
  gapMs?: number;
  note?: string;
}

/** Samples a counter (the gate's redirects, hedges) and remembers when it changed. */
export class CounterSampler {
  private readonly changes: { at: number; value: number }[] = [];
  private readonly initial: number | undefined;
  private last: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly read: () => number | undefined, everyMs = 5) {
    this.initial = this.last = read();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const v = this.read();
    if (v !== undefined && v !== this.last) this.changes.push({ at: Date.now(), value: v });
    this.last = v;
  }

  /** Whether the counter can be read at all (the product may not expose it). */
  get available(): boolean {
    return this.last !== undefined;
  }

  get value(): number | undefined {
    return this.last;
  }

  /** The counter's value at time `t`. */
  valueAt(t: number): number | undefined {
    let v = this.initial;
    for (const c of this.changes) {
      if (c.at > t) break;
      v = c.value;
    }
    return v;
  }

  /** ms from `t` to the first change at or after it, if any came before `until`. */
  firstChangeAfter(t: number, until = Infinity): number | undefined {
    const c = this.changes.find((x) => x.at >= t && x.at <= until);
    return c ? c.at - t : undefined;
  }

  /** How much the counter grew between `from` and `to`. */
  growth(from: number, to: number): number | undefined {
    const a = this.valueAt(from);
    const b = this.valueAt(to);
    return a === undefined || b === undefined ? undefined : b - a;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** Records a NATS connection's disconnect/reconnect events, to tell what a server fault did to whom. */
export class ConnectionWatch {
  readonly events: { at: number; type: string; data: string }[] = [];

  constructor(
    readonly label: string,
    nc: { status(): AsyncIterable<{ type: string; data: unknown }> },
  ) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') this.events.push({ at: Date.now(), type: s.type, data: String(s.data) });
      }
    })().catch(() => undefined);
  }

  /** "label: disconnect +12ms, reconnect +260ms (host:port)" for the events in [from, to), or nothing. */
  describe(from: number, to: number): string | undefined {
    const ev = this.events.filter((e) => e.at >= from && e.at < to);
    if (ev.length === 0) return undefined;
    return `${this.label}: ${ev.map((e) => `${e.type} +${e.at - from}ms${e.type === 'reconnect' ? ` (${e.data})` : ''}`).join(', ')}`;
  }
}
