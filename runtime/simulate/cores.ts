// A host's cores: a job waits for a free one, runs for its time, frees it. A host that fails drops what it holds.
// A process's single thread is a Cores of one: a job may need a slot of both (see runOnThread).
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
    this.acquire(() => this.hold(ms, epoch, done));
  }

  /**
   * Runs a job that is also the work of one single-threaded process (`thread`, one slot): it waits for the thread,
   * then for a core, and holds both while it runs. A gate's steps and its dispatches' encoding queue up like this.
   */
  runOnThread(thread: Cores, ms: number, done: () => void): void {
    const epoch = this.epoch;
    thread.acquire(() =>
      this.acquire(() =>
        this.hold(ms, epoch, () => {
          thread.release();
          done();
        }, () => thread.release()),
      ),
    );
  }

  private hold(ms: number, epoch: number, done: () => void, dropped?: () => void): void {
    this.busyMs += ms;
    this.clock.after(ms, () => {
      if (this.epoch !== epoch) return dropped?.();
      this.release();
      done();
    });
  }

  private acquire(go: () => void): void {
    const take = () => {
      this.free--;
      go();
    };
    if (this.free > 0) take();
    else this.waiting.push(take);
  }

  private release(): void {
    this.free++;
    this.waiting.shift()?.();
  }

  /** The host failed: nothing queued or running finishes. */
  reset(): void {
    this.epoch++;
    this.waiting = [];
    this.free = this.count;
  }
}
