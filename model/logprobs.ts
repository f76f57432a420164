// What a generated token reports: its log-probability under the raw logits and the most likely alternatives.

/** Most alternatives a request may ask for per token (as OpenAI's top_logprobs). */
export const MAX_LOGPROBS = 20;

export interface TokenLogprob {
  id: number;
  logprob: number;
}

/** log Σ exp(logits), float64, shifted by the max, summed in index order. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/**
 * Token `id`'s log-softmax of the raw logits (before temperature, top-k, top-p), and the `top` most likely
 * tokens with theirs, most likely first (ties: lower id first).
 */
export function tokenLogprobs(logits: Float32Array, id: number, top: number): { logprob: number; top: TokenLogprob[] } {
  const lse = logSumExp(logits);
  const n = Math.min(top, logits.length);
  // the n best ids so far, best first; a later id enters only when strictly better than the worst kept
  const best: number[] = [];
  for (let i = 0; i < logits.length && n > 0; i++) {
    const l = logits[i];
    if (best.length === n && !(l > logits[best[n - 1]])) continue;
    let at = best.length === n ? n - 1 : best.length;
    for (; at > 0 && l > logits[best[at - 1]]; at--) best[at] = best[at - 1];
    best[at] = i;
  }
  return { logprob: logits[id] - lse, top: best.map((i) => ({ id: i, logprob: logits[i] - lse })) };
}
