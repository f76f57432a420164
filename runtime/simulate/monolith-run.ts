// The comparison: a monolith of the same hosts, one expert-parallel group stepping in lockstep. Each host runs
// attention for its share of the batch and holds its share of the experts (one copy each); every MoE layer is an
// all-to-all out and back, and a layer waits for the slowest host. Any host failing stops the whole group until
// it restarts, and the sequences in flight are lost.
import { Histogram, PerSecond } from './measures.js';
import { prng } from './prng.js';
import { expertMs, gateLayerMs, gateStepMs, type CostProfile, type SimModel } from './profile.js';
import { Routing } from './routing.js';
import { stepRows } from './step-rows.js';

export interface MonolithRunConfig {
  model: SimModel;
  profile: CostProfile;
  hosts: number;
  /** Sequences in flight over the whole group (the same as the eaas run's gates × batch). */
  sequences: number;
  prefillBudget: number;
  skew: number;
  seed: number;
  durationMs: number;
  warmupMs: number;
  lengths: (rnd: () => number) => { prompt: number; output: number };
  /** When hosts fail (ms). */
  failures?: number[];
}

export interface MonolithRunResult {
  tokensPerS: number;
  tokens: PerSecond;
  itl: Histogram;
  completed: number;
  /** Sequences in flight when a host failed. */
  lost: number;
  /** Time stopped for restarts, ms. */
  downMs: number;
}

interface Sequence {
  prefillLeft: number;
  produced: number;
  output: number;
}

export function runMonolith(c: MonolithRunConfig): MonolithRunResult {
  const rnd = prng(c.seed);
  const routing = new Routing(c.model, c.skew, prng(c.seed ^ 0x9e3779b9));
  const { profile: p, model: m, hosts: H } = c;
  const cores = p.coresPerHost;
  const fresh = (): Sequence => {
    const { prompt, output } = c.lengths(rnd);
    return { prefillLeft: prompt, produced: 0, output };
  };
  let seqs = Array.from({ length: c.sequences }, fresh);
  const failures = [...(c.failures ?? [])].sort((a, b) => a - b);
  const tokens = new PerSecond();
  const itl = new Histogram();
  let completed = 0;
  let lost = 0;
  let downMs = 0;
  let t = 0;
  const rowBytes = m.hidden * m.wireBytes;
  while (t < c.durationMs) {
    const { chunks, rows, heads } = stepRows(seqs, c.prefillBudget * H);
    // a host's share of the rows, computed by its cores side by side
    const perCore = rows / H / cores;
    let step = gateStepMs(p, m, heads / H / cores);
    // one all-to-all: a host's rows to the hosts of their experts (and the same back after)
    const exchange = p.collectiveMs + ((rows / H) * m.topK * rowBytes) / p.linkBytesPerMs;
    for (let layer = 0; layer < m.moeLayers; layer++) {
      const counts = routing.counts(layer, rows);
      const hostMs = new Array<number>(H).fill(0);
      counts.forEach((n, e) => {
        if (n > 0) hostMs[(layer * m.experts + e) % H] += expertMs(p, m, n);
      });
      step += gateLayerMs(p, m, perCore) + 2 * exchange + Math.max(...hostMs) / cores;
    }
    const failure = failures[0];
    if (failure !== undefined && t + step > failure) {
      failures.shift();
      lost += seqs.length;
      const back = Math.max(t, failure) + p.monolithRestartMs;
      downMs += back - Math.max(t, failure);
      t = back;
      seqs = Array.from({ length: c.sequences }, fresh);
      continue;
    }
    t += step;
    let made = 0;
    const next: Sequence[] = [];
    for (const s of seqs) {
      const chunk = chunks.get(s);
      if (chunk !== undefined) s.prefillLeft -= chunk;
      else if (s.prefillLeft === 0) itl.add(step);
      if (s.prefillLeft === 0 && (chunk === undefined || chunk > 0)) {
        s.produced++;
        made++;
      }
      if (s.produced >= s.output) {
        completed++;
        next.push(fresh());
      } else next.push(s);
    }
    seqs = next;
    tokens.add(t, made);
  }
  return { tokensPerS: tokens.mean(Math.floor(c.warmupMs / 1000), Math.floor(c.durationMs / 1000)), tokens, itl, completed, lost, downMs };
}
