// What one decode step of a batch computes: every decoding sequence's row, and chunks of the prompts still
// prefilling, first come first served, up to a budget of prompt rows (chunked prefill).

/** A sequence as a step sees it: prompt rows still to prefill (0: decoding). */
export interface Prefilling {
  prefillLeft: number;
}

export interface StepRows<S> {
  /** Prompt rows each prefilling sequence computes this step. */
  chunks: Map<S, number>;
  /** Rows through every layer. */
  rows: number;
  /** Sequences whose last row the LM head reads (decoding, or given a chunk). */
  heads: number;
}

export function stepRows<S extends Prefilling>(seqs: readonly S[], prefillBudget: number): StepRows<S> {
  let budget = prefillBudget;
  const chunks = new Map<S, number>();
  let rows = 0;
  let heads = 0;
  for (const s of seqs) {
    if (s.prefillLeft === 0) {
      rows++;
      heads++;
    } else if (budget > 0) {
      const c = Math.min(s.prefillLeft, budget);
      chunks.set(s, c);
      budget -= c;
      rows += c;
      heads++;
    }
  }
  return { chunks, rows, heads };
}
