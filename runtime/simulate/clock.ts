// The simulator's clock: events in time order (ties in the order they were scheduled), nothing else runs time.

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

const less = (a: Event, b: Event): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A discrete-event clock in milliseconds. Same schedule, same order: no wall clock, no randomness. */
export class SimClock {
  private readonly heap: Event[] = [];
  private seq = 0;
  private t = 0;
  /** Events run so far (for the run's summary). */
  events = 0;

  /** The simulated time, ms. */
  now = (): number => this.t;

  /** Runs `run` at `at` (never before now). */
  at(at: number, run: () => void): void {
    this.push({ at: Math.max(at, this.t), seq: this.seq++, run });
  }

  /** Runs `run` `ms` from now. */
  after(ms: number, run: () => void): void {
    this.at(this.t + ms, run);
  }

  /** Runs `run` every `ms` from `first` on, until `until` (exclusive). */
  every(ms: number, first: number, until: number, run: () => void): void {
    const tick = (t: number) => {
      if (t >= until) return;
      this.at(t, () => {
        run();
        tick(t + ms);
      });
    };
    tick(first);
  }

  /** Runs the events up to `until` ms, then leaves the clock there. */
  runUntil(until: number): void {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const e = this.pop();
      this.t = e.at;
      this.events++;
      e.run();
    }
    this.t = Math.max(this.t, until);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
