// A host's cores: a job waits for a free one, runs for its time, frees it. A host that fails drops what it holds.
import type { SimClock } from './clock.js';

export class Cores {
  private free: number;
  private waiting: (() => void)[] = [];
  private epoch = 0;
  /** Core-ms of work run so far. */
  busyMs = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly count: number,
  ) {
    this.free = count;
  }

  /** Runs a job of `ms` on the next free core, then `done`. */
  run(ms: number, done: () => void): void {
    const epoch = this.epoch;
    const go = () => {
      this.free--;
      this.busyMs += ms;
      this.clock.after(ms, () => {
        if (this.epoch !== epoch) return;
        this.free++;
        this.waiting.shift()?.();
        done();
      });
    };
    if (this.free > 0) go();
    else this.waiting.push(go);
  }

  /** The host failed: nothing queued or running finishes. */
  reset(): void {
    this.epoch++;
    this.waiting = [];
    this.free = this.count;
  }
}
