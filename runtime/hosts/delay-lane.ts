// One direction of a TCP connection whose chunks arrive a set time after they left, in order
// (a link's latency, done in user space: this kernel has no netem).
import type { Socket } from 'node:net';

/** Node's timers fire 1 ms late at best: a smaller delay would cost a whole millisecond, so it is not added. */
const TIMER_RESOLUTION_MS = 1;

export class DelayLane {
  private readonly queue: { at: number; chunk: Buffer }[] = [];
  private timer?: NodeJS.Timeout;
  private ended = false;
  private held = false;

  /** `mayFlow`: false while someone else holds `from` paused on purpose (a fault proxy's stall). */
  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delayMs: () => number,
    private readonly mayFlow: () => boolean = () => true,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  private push(chunk: Buffer): void {
    const last = this.queue.length > 0 ? this.queue[this.queue.length - 1]!.at : 0;
    const delay = this.delayMs();
    this.queue.push({ at: Math.max(performance.now() + (delay < TIMER_RESOLUTION_MS ? 0 : delay), last), chunk });
    this.flush();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!;
      // the far side does not take more: stop reading, so the sender feels it as on a real link
      if (!this.to.destroyed && !this.to.write(chunk)) this.holdUntilDrained();
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.queue[0]!.at - now);
    else if (this.ended && !this.to.destroyed) this.to.end();
  }

  private holdUntilDrained(): void {
    if (this.held) return;
    this.held = true;
    this.from.pause();
    this.to.once('drain', () => {
      this.held = false;
      if (this.mayFlow()) this.from.resume();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
