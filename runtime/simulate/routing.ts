// Which experts a step's tokens go to: per layer a seeded popularity (a few hot experts, as trained MoE models
// have), and per step a draw of each expert's row count around its share.
import type { SimModel } from './profile.js';

/** Up to this many rows, each row's experts are drawn one by one (a decode step of a few sequences); above, each expert's count is drawn around its mean. */
const EXACT_ROWS = 8;

export class Routing {
  /** Per MoE layer, each expert's share of the routed rows (sums to 1). */
  readonly popularity: Float64Array[];

  /**
   * Zipf-like shares: the expert of rank r (a seeded shuffle per layer) gets ∝ 1/(r+1)^skew. Skew 0 is uniform;
   * each share is kept at most 1/topK (a token picks topK distinct experts, so no expert sees more than every token).
   */
  constructor(
    readonly model: SimModel,
    skew: number,
    private readonly rnd: () => number,
  ) {
    this.popularity = Array.from({ length: model.moeLayers }, () => {
      const order = shuffle(Array.from({ length: model.experts }, (_, i) => i), rnd);
      const w = new Float64Array(model.experts);
      order.forEach((e, rank) => (w[e] = 1 / (rank + 1) ** skew));
      return capShares(w, 1 / model.topK);
    });
  }

  /**
   * Rows per expert for `rows` tokens at `layer`. Few rows: drawn token by token. Many: each expert's mean is
   * rows × topK × share, drawn as a binomial (its normal approximation, rounded and kept within 0..rows), so the
   * counts vary from step to step as they do.
   */
  counts(layer: number, rows: number): Int32Array {
    const p = this.popularity[layer];
    if (rows <= EXACT_ROWS) return this.exact(p, rows);
    const out = new Int32Array(p.length);
    for (let e = 0; e < p.length; e++) {
      const q = Math.min(1, this.model.topK * p[e]);
      const mean = rows * q;
      const sd = Math.sqrt(rows * q * (1 - q));
      out[e] = Math.max(0, Math.min(rows, Math.round(mean + sd * this.gaussian())));
    }
    return out;
  }

  /** Each token picks topK distinct experts, each draw in proportion to the shares left: exactly topK per row. */
  private exact(p: Float64Array, rows: number): Int32Array {
    const out = new Int32Array(p.length);
    const taken = new Uint8Array(p.length);
    for (let r = 0; r < rows; r++) {
      taken.fill(0);
      let left = 1;
      for (let k = 0; k < this.model.topK; k++) {
        let u = this.rnd() * left;
        let e = 0;
        for (; e < p.length - 1; e++) {
          if (taken[e]) continue;
          u -= p[e];
          if (u < 0) break;
        }
        while (taken[e]) e--; // rounding ran past the last untaken expert
        taken[e] = 1;
        left -= p[e];
        out[e]++;
      }
    }
    return out;
  }

  private gaussian(): number {
    const u = Math.max(1e-12, this.rnd());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rnd());
  }
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Normalises `w` to shares, none above `cap` (the excess spread over the others in proportion). */
function capShares(w: Float64Array, cap: number): Float64Array {
  const p = w.map((x) => x / w.reduce((s, v) => s + v, 0));
  for (let round = 0; round < p.length; round++) {
    const over = p.reduce((s, x) => s + Math.max(0, x - cap), 0);
    if (over < 1e-12) break;
    const under = p.reduce((s, x) => s + (x < cap ? x : 0), 0);
    for (let e = 0; e < p.length; e++) p[e] = p[e] >= cap ? cap : p[e] + (over * p[e]) / under;
  }
  return p;
}
