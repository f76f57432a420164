// Progress of long work on stderr: a bar redrawn in place on a terminal, a plain line at each quarter otherwise
// (logs and CI). Nothing goes to stdout, which scripts parse.

export interface Progress {
  /** `done` of `total` now. */
  update(done: number): void;
  /** Finished: the bar's line is closed (or the last plain line written). */
  end(): void;
}

export interface ProgressOptions {
  /** Where it goes (default stderr); a bar only when it is a terminal. */
  out?: { isTTY?: boolean; write(s: string): unknown };
  now?: () => number;
}

/** Work over sooner than this shows no progress (commands pass it as `afterMs`). */
export const SHOW_AFTER_MS = 1_000;
/** A bar redraws at most this often. */
const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function progress(label: string, total: number, o: ProgressOptions = {}): Progress {
  const out = o.out ?? process.stderr;
  const now = o.now ?? Date.now;
  const tty = out.isTTY === true;
  let drawn = -Infinity;
  let quarter = 0;
  let last = 0;
  let ended = false;
  const count = (done: number) => `${done}/${total}`;
  const draw = (done: number) => {
    const filled = total > 0 ? Math.round((done / total) * BAR_WIDTH) : BAR_WIDTH;
    out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${count(done)}`);
  };
  return {
    update(done) {
      if (ended) return;
      last = Math.min(done, total);
      if (tty) {
        if (now() - drawn < REDRAW_MS && last < total) return;
        drawn = now();
        draw(last);
        return;
      }
      // plain lines: one at each quarter passed (the last one at the end)
      const reached = total > 0 ? Math.floor((last / total) * 4) : 4;
      if (reached > quarter && last < total) {
        quarter = reached;
        out.write(`${label} ${count(last)}\n`);
      }
    },
    end() {
      if (ended) return;
      ended = true;
      if (tty) {
        draw(last);
        out.write('\n');
      } else out.write(`${label} ${count(last)}\n`);
    },
  };
}

/**
 * A `(done, total)` callback that shows its progress; it ends when `done` reaches `total`. With `afterMs`, work
 * that is over sooner shows nothing (a small model loads before anyone would look).
 */
export function progressCallback(label: string, o: ProgressOptions & { afterMs?: number } = {}): (done: number, total: number) => void {
  const now = o.now ?? Date.now;
  let first: number | undefined;
  let shown: Progress | undefined;
  return (done, total) => {
    first ??= now();
    if (!shown && now() - first < (o.afterMs ?? 0)) return;
    shown ??= progress(label, total, o);
    shown.update(done);
    if (done >= total) shown.end();
  };
}
