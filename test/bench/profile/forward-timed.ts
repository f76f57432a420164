// Profiling copy of model/forward.ts Forward.step with wall-clock timers around each phase (profiling only).
import type { DenseModel } from '../../../model/dense.js';
import { combine, type ExpertBackend, type ExpertBatch, type SequenceInput } from '../../../model/forward.js';
import { groupByExpert, route } from '../../../model/router.js';

export const phases = new Map<string, number>();
const add = (k: string, t0: number) => { phases.set(k, (phases.get(k) ?? 0) + performance.now() - t0); return performance.now(); };

export class TimedForward {
  constructor(private readonly dense: DenseModel, private readonly experts: ExpertBackend, private readonly sequentialAttention = false) {}

  async step(seqs: SequenceInput[]): Promise<Float32Array[]> {
    const c = this.dense.config;
    const H = c.hiddenSize;
    let t = performance.now();
    const ids: number[] = [];
    const positions: number[] = [];
    for (const s of seqs) {
      const start = s.cache.length;
      s.tokens.forEach((id, j) => { ids.push(id); positions.push(start + j); });
    }
    let x = this.dense.embed(ids);
    const { cos, sin } = this.dense.rope(positions);
    t = add('embed+rope', t);
    for (let layer = 0; layer < c.numHiddenLayers; layer++) x = await this.layer(layer, seqs, x, cos, sin);
    t = performance.now();
    const last = new Float32Array(seqs.length * H);
    let end = 0;
    seqs.forEach((s, i) => { end += s.tokens.length; last.set(x.subarray((end - 1) * H, end * H), i * H); });
    const logits = await this.dense.logits(last);
    add('logits', t);
    return seqs.map((_, i) => logits.subarray(i * c.vocabSize, (i + 1) * c.vocabSize));
  }

  private async layer(layer: number, seqs: SequenceInput[], x: Float32Array, cos: Float32Array, sin: Float32Array): Promise<Float32Array> {
    const c = this.dense.config;
    const H = c.hiddenSize;
    const qRow = c.numAttentionHeads * c.headDim;
    const kvRow = c.numKeyValueHeads * c.headDim;
    let t = performance.now();
    const { q, k, v } = await this.dense.preAttention(layer, x, cos, sin);
    t = add('preAttention', t);
    const attn = new Float32Array((x.length / H) * qRow);
    let offset = 0;
    const one = (s: SequenceInput) => {
      const start = offset;
      const end = (offset += s.tokens.length);
      const cache = s.cache.extend(layer, k.subarray(start * kvRow, end * kvRow), v.subarray(start * kvRow, end * kvRow));
      return this.dense.attend(q.subarray(start * qRow, end * qRow), cache.k, cache.v).then((out) => attn.set(out, start * qRow));
    };
    if (this.sequentialAttention) for (const s of seqs) await one(s);
    else await Promise.all(seqs.map(one));
    t = add('attention', t);
    const { h, normed, router_logits } = await this.dense.postAttention(layer, x, attn);
    t = add('postAttention', t);
    const routing = route(router_logits, c.numLocalExperts, c.numExpertsPerTok);
    const groups = groupByExpert(routing);
    const rowOf = new Int32Array(routing.experts.length);
    const batchOf = new Int32Array(routing.experts.length);
    const batches: ExpertBatch[] = groups.map((g, b) => {
      const input = new Float32Array(g.tokens.length * H);
      g.tokens.forEach((tok, row) => {
        input.set(normed.subarray(tok * H, (tok + 1) * H), row * H);
        const slot = tok * routing.k + routing.experts.subarray(tok * routing.k, (tok + 1) * routing.k).indexOf(g.expert);
        rowOf[slot] = row;
        batchOf[slot] = b;
      });
      return { expert: g.expert, rows: g.tokens.length, input };
    });
    t = add('route+gather (JS)', t);
    const outputs = await this.experts.runExperts(layer, batches);
    t = add('experts', t);
    const out = combine(h, routing, outputs, rowOf, batchOf, H);
    add('combine (JS)', t);
    return out;
  }
}
