// Mixtral's router: softmax in float32, top-k, the k weights renormalised to sum to 1.

export interface Routing {
  /** Tokens routed. */
  tokens: number;
  /** Experts per token. */
  k: number;
  /** [tokens, k] expert ids, per token in ascending expert order (the fixed combine order). */
  experts: Int32Array;
  /** [tokens, k] combine weights matching `experts`. */
  weights: Float32Array;
}

const f = Math.fround;

/**
 * Routes each token of logits [tokens, numExperts] to its top-k experts.
 * Ties go to the lower expert index, as ONNX TopK and a stable sort do.
 */
export function route(logits: Float32Array, numExperts: number, k: number): Routing {
  const tokens = logits.length / numExperts;
  const experts = new Int32Array(tokens * k);
  const weights = new Float32Array(tokens * k);
  const probs = new Float32Array(numExperts);
  const chosen = new Int32Array(k);
  for (let t = 0; t < tokens; t++) {
    const row = logits.subarray(t * numExperts, (t + 1) * numExperts);
    let max = -Infinity;
    for (let e = 0; e < numExperts; e++) if (row[e] > max) max = row[e];
    let sum = 0;
    for (let e = 0; e < numExperts; e++) {
      probs[e] = f(Math.exp(f(row[e] - max)));
      sum = f(sum + probs[e]);
    }
    for (let e = 0; e < numExperts; e++) probs[e] = f(probs[e] / sum);
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let e = 0; e < numExperts; e++) {
        if (best >= 0 && !(probs[e] > probs[best])) continue;
        if (chosen.subarray(0, j).includes(e)) continue;
        best = e;
      }
      chosen[j] = best;
    }
    let topSum = 0;
    for (let j = 0; j < k; j++) topSum = f(topSum + probs[chosen[j]]);
    const order = Array.from(chosen).sort((a, b) => a - b);
    for (let j = 0; j < k; j++) {
      experts[t * k + j] = order[j];
      weights[t * k + j] = f(probs[order[j]] / topSum);
    }
  }
  return { tokens, k, experts, weights };
}

/** Rows of one expert in a layer step: which tokens, gathered in token order. */
export interface ExpertRows {
  expert: number;
  /** Token indices, ascending. */
  tokens: number[];
}

/** Groups routed tokens by expert, experts ascending, tokens ascending within each. */
export function groupByExpert(r: Routing): ExpertRows[] {
  const byExpert = new Map<number, number[]>();
  for (let t = 0; t < r.tokens; t++) {
    for (let j = 0; j < r.k; j++) {
      const e = r.experts[t * r.k + j];
      let list = byExpert.get(e);
      if (!list) byExpert.set(e, (list = []));
      list.push(t);
    }
  }
  return [...byExpert.entries()].sort((a, b) => a[0] - b[0]).map(([expert, tokens]) => ({ expert, tokens }));
}
