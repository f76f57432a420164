// How many replicas each expert gets: a minimum for fault tolerance, the spare slots to the hottest per replica.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';

export interface ReplicaCount extends ExpertKey {
  replicas: number;
}

/**
 * Gives every expert `min` replicas, then hands out up to `slots` replicas in all, one at a time, to the expert with
 * the highest load per replica (tokens ÷ replicas), never more than `max` (one per actor). Ties go to the lower
 * (layer, expert), so the result depends on the input alone.
 *
 * This is DeepSeek's EPLB `replicate_experts` (github.com/deepseek-ai/EPLB, eplb.py: each redundant slot goes to
 * `argmax(weight / logcnt)`), as vLLM's `DefaultEplbPolicy.replicate_experts` keeps it
 * (vllm/distributed/eplb/policy/default.py), with two changes: the floor is `min` replicas rather than one, and the
 * greedy runs over all layers together, since every layer's step waits for its slowest actor alike.
 * `experts` must be in (layer, expert) order without repeats; `slots` below `min × experts` leaves the minimum.
 */
export function replicate(experts: ExpertKey[], tokens: Map<string, number>, min: number, max: number, slots: number): ReplicaCount[] {
  const out: ReplicaCount[] = experts.map((k) => ({ layer: k.layer, expert: k.expert, replicas: Math.min(min, max) }));
  const load = experts.map((k) => tokens.get(formatExpertKey(k)) ?? 0);
  let spare = slots - out.reduce((n, c) => n + c.replicas, 0);
  while (spare > 0) {
    let best = -1;
    for (let i = 0; i < out.length; i++) {
      if (out[i].replicas >= max) continue;
      if (best < 0 || load[i] / out[i].replicas > load[best] / out[best].replicas) best = i;
    }
    if (best < 0) break; // every expert is on every actor
    out[best].replicas++;
    spare--;
  }
  return out;
}
