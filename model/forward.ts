// One forward step of a batch of sequences, with the experts behind an interface.
import type { DenseModel } from './dense.js';
import { attentionRows } from './families/shape.js';
import type { KvCache } from './kv-cache.js';
import { groupByExpert, routeLayer, type Routing } from './router.js';

/** The rows of one expert in a layer step, gathered in token order: input [rows, H]. */
export interface ExpertBatch {
  expert: number;
  rows: number;
  input: Float32Array;
  /** The step's token each row is (a token routed to several experts is a row of each): what lets a row travel once. */
  tokens?: readonly number[];
}

/** Where experts run: in this process (monolithic) or behind NATS (gate). */
export interface ExpertBackend {
  /** Runs each batch through its expert of `layer`; outputs [rows, H] in the order of `batches`. */
  runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]>;
}

/** Wrappers around the phases of a step, e.g. to trace them; they must call `run` once. */
export interface StepHooks {
  layer?<T>(layer: number, tokens: number, run: () => Promise<T>): Promise<T>;
}

/** One sequence's share of a step: its new token ids, appended after its cache. */
export interface SequenceInput {
  cache: KvCache;
  tokens: number[];
  /** The logits of every new token, not only the last (a prompt's logprobs). */
  allLogits?: boolean;
}

const f = Math.fround;

/**
 * x_next = h + (Σ w·expert(normed) [+ shared]), per token summed in ascending expert order, the shared
 * expert's output (computed with attention in the gate) added last: the fixed order makes the result
 * independent of how rows were batched and of which replica answered.
 */
export function combine(h: Float32Array, routing: Routing, outputs: Float32Array[], rowOf: Int32Array, batchOf: Int32Array, H: number, shared?: Float32Array): Float32Array {
  const out = new Float32Array(h.length);
  const acc = new Float32Array(H);
  const { k } = routing;
  for (let t = 0; t < routing.tokens; t++) {
    acc.fill(0);
    for (let j = 0; j < k; j++) {
      const slot = t * k + j;
      const w = routing.weights[slot];
      const y = outputs[batchOf[slot]];
      const base = rowOf[slot] * H;
      for (let d = 0; d < H; d++) acc[d] = f(acc[d] + f(w * y[base + d]));
    }
    if (shared) for (let d = 0; d < H; d++) acc[d] = f(acc[d] + shared[t * H + d]);
    for (let d = 0; d < H; d++) out[t * H + d] = f(h[t * H + d] + acc[d]);
  }
  return out;
}

export class Forward {
  constructor(
    private readonly dense: DenseModel,
    private readonly experts: ExpertBackend,
    private readonly hooks: StepHooks = {},
  ) {}

  /** Runs the new tokens of every sequence; returns the logits [V] of each sequence's last token ([n·V], one row per new token, with allLogits). */
  async step(seqs: SequenceInput[]): Promise<Float32Array[]> {
    const c = this.dense.config;
    const H = c.hiddenSize;
    const ids: number[] = [];
    const positions: number[] = [];
    for (const s of seqs) {
      const start = s.cache.length;
      s.tokens.forEach((id, j) => {
        ids.push(id);
        positions.push(start + j);
      });
    }
    let x = this.dense.embed(ids);
    const { cos, sin } = this.dense.rope(positions);
    for (let layer = 0; layer < c.numHiddenLayers; layer++) {
      const input = x;
      const run = () => this.layer(layer, seqs, input, cos, sin);
      x = this.hooks.layer ? await this.hooks.layer(layer, ids.length, run) : await run();
    }
    // the rows the LM head reads: each sequence's last, or all of its new ones
    const spans = seqs.map((s) => (s.allLogits ? s.tokens.length : 1));
    const rows = new Float32Array(spans.reduce((a, n) => a + n, 0) * H);
    let end = 0;
    let row = 0;
    seqs.forEach((s, i) => {
      end += s.tokens.length;
      rows.set(x.subarray((end - spans[i]) * H, end * H), row * H);
      row += spans[i];
    });
    const logits = await this.dense.logits(rows);
    row = 0;
    return spans.map((n) => logits.subarray(row * c.vocabSize, (row += n) * c.vocabSize));
  }

  private async layer(layer: number, seqs: SequenceInput[], x: Float32Array, cos: Float32Array, sin: Float32Array): Promise<Float32Array> {
    const c = this.dense.config;
    const H = c.hiddenSize;
    const rows = attentionRows(c);
    const { q, k, v } = await this.dense.preAttention(layer, x, cos, sin);
    const attn = new Float32Array((x.length / H) * rows.out);
    let offset = 0;
    await Promise.all(
      seqs.map((s) => {
        const start = offset;
        const end = (offset += s.tokens.length);
        const cache = s.cache.extend(layer, k.subarray(start * rows.cacheA, end * rows.cacheA), v.subarray(start * rows.cacheB, end * rows.cacheB));
        return this.dense.attend(layer, q.subarray(start * rows.q, end * rows.q), cache.k, cache.v).then((out) => attn.set(out, start * rows.out));
      }),
    );
    const post = await this.dense.postAttention(layer, x, attn);
    // a dense layer's MLP ran with attention: nothing to route
    if (!this.dense.isMoe(layer)) return post.out;
    const { h, normed, router_logits, shared } = post;
    const routing = routeLayer(c, router_logits, this.dense.routerBias(layer));
    const groups = groupByExpert(routing);
    const rowOf = new Int32Array(routing.experts.length);
    const batchOf = new Int32Array(routing.experts.length);
    // every batch is a view into one buffer, back to back, so that neighbouring experts go out without another copy
    const all = new Float32Array(routing.experts.length * H);
    let used = 0;
    const batches: ExpertBatch[] = groups.map((g, b) => {
      const input = all.subarray(used * H, (used += g.tokens.length) * H);
      g.tokens.forEach((t, row) => {
        input.set(normed.subarray(t * H, (t + 1) * H), row * H);
        const slot = t * routing.k + routing.experts.subarray(t * routing.k, (t + 1) * routing.k).indexOf(g.expert);
        rowOf[slot] = row;
        batchOf[slot] = b;
      });
      return { expert: g.expert, rows: g.tokens.length, input, tokens: g.tokens };
    });
    const outputs = await this.experts.runExperts(layer, batches);
    return combine(h, routing, outputs, rowOf, batchOf, H, shared);
  }
}
