// The routers, in plain float32 TypeScript with one fixed order: softmax top-k (Mixtral, Qwen, OLMoE; renormalised
// or not) and DeepSeek-V3's sigmoid scores with a choice-only bias, group-limited top-k and a scaling factor.
import type { ModelConfig } from './config.js';
import type { GroupRoutingSpec } from './families/spec.js';

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

/** Mixtral's router: softmax, top-k, the k weights renormalised to sum to 1. */
export function route(logits: Float32Array, numExperts: number, k: number): Routing {
  return routeSoftmax(logits, numExperts, k, true);
}

/** The router a layer of this config uses; `bias`: DeepSeek's e_score_correction_bias of the layer. */
export function routeLayer(c: ModelConfig, logits: Float32Array, bias?: Float32Array): Routing {
  const f = c.family;
  if (!f) return route(logits, c.numLocalExperts, c.numExpertsPerTok);
  if (f.groupRouting) {
    if (!bias) throw new Error('group-limited routing needs the layer\'s e_score_correction_bias');
    return routeGrouped(logits, bias, c.numLocalExperts, c.numExpertsPerTok, f.groupRouting, f.normTopkProb);
  }
  return routeSoftmax(logits, c.numLocalExperts, c.numExpertsPerTok, f.normTopkProb);
}

/**
 * Routes each token of logits [tokens, numExperts] to its top-k experts by softmax probability; with
 * `renormalise` the k weights are divided by their sum, else they are the probabilities themselves.
 * Ties go to the lower expert index, as ONNX TopK and a stable sort do.
 */
export function routeSoftmax(logits: Float32Array, numExperts: number, k: number, renormalise: boolean): Routing {
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
      weights[t * k + j] = renormalise ? f(probs[order[j]] / topSum) : probs[order[j]];
    }
  }
  return { tokens, k, experts, weights };
}

/** The index of the largest of `values` not yet taken (ties to the lower index), or -1. */
function best(values: Float32Array, taken: Uint8Array): number {
  let b = -1;
  for (let e = 0; e < values.length; e++) if (!taken[e] && (b < 0 || values[e] > values[b])) b = e;
  return b;
}

/**
 * DeepSeek-V3's router (HF DeepseekV3TopkRouter + route_tokens_to_experts): scores = sigmoid(logits); the choice
 * uses scores + bias; each group of experts scores the sum of its two best choices; the `topkGroup` best groups
 * stay, the others' choices become 0; the top-k choices are the experts, weighted by their unbiased scores,
 * renormalised (sum + 1e-20) when `renormalise`, times routedScalingFactor. Ties go to the lower index.
 */
export function routeGrouped(logits: Float32Array, bias: Float32Array, numExperts: number, k: number, g: GroupRoutingSpec, renormalise: boolean): Routing {
  const tokens = logits.length / numExperts;
  const size = numExperts / g.nGroup;
  const experts = new Int32Array(tokens * k);
  const weights = new Float32Array(tokens * k);
  const scores = new Float32Array(numExperts);
  const choice = new Float32Array(numExperts);
  const groupScores = new Float32Array(g.nGroup);
  const takenExperts = new Uint8Array(numExperts);
  const takenGroups = new Uint8Array(g.nGroup);
  const chosen = new Int32Array(k);
  for (let t = 0; t < tokens; t++) {
    for (let e = 0; e < numExperts; e++) {
      scores[e] = f(1 / (1 + Math.exp(-logits[t * numExperts + e])));
      choice[e] = f(scores[e] + bias[e]);
    }
    for (let gi = 0; gi < g.nGroup; gi++) {
      let first = -Infinity;
      let second = -Infinity;
      for (let e = gi * size; e < (gi + 1) * size; e++) {
        if (choice[e] > first) {
          second = first;
          first = choice[e];
        } else if (choice[e] > second) second = choice[e];
      }
      groupScores[gi] = f(first + second);
    }
    takenGroups.fill(0);
    const keep = new Uint8Array(g.nGroup);
    for (let j = 0; j < g.topkGroup; j++) {
      const gi = best(groupScores, takenGroups);
      takenGroups[gi] = 1;
      keep[gi] = 1;
    }
    // masked_fill(~mask, 0.0), as HF: a dropped group's experts choose with 0
    for (let e = 0; e < numExperts; e++) if (!keep[Math.floor(e / size)]) choice[e] = 0;
    takenExperts.fill(0);
    for (let j = 0; j < k; j++) {
      chosen[j] = best(choice, takenExperts);
      takenExperts[chosen[j]] = 1;
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum = f(sum + scores[chosen[j]]);
    const denominator = f(sum + 1e-20);
    const order = Array.from(chosen).sort((a, b) => a - b);
    for (let j = 0; j < k; j++) {
      const w = renormalise ? f(scores[order[j]] / denominator) : scores[order[j]];
      experts[t * k + j] = order[j];
      weights[t * k + j] = f(w * g.routedScalingFactor);
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
