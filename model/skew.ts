// Skewed routing for random checkpoints (`eaas model init --skew`): random weights route tokens almost uniformly,
// trained MoE models do not, and placement and load benchmarks need the hot experts real models have.
import type { ModelConfig } from './config.js';
import { allExpertKeys } from './families/shape.js';
import { embeddingsTensor, expertTensors, layerTensors, type LayerRole, type TensorSpec } from './families/tensors.js';

/** Changes a tensor's random values in place (or leaves them) and returns them. */
export type TensorSkew = (t: TensorSpec, values: Float32Array) => Float32Array;

// the weights that read a layer's normalised hidden state, the routers aside ([out, hidden] each)
const READERS: readonly LayerRole[] = ['q', 'k', 'v', 'qA', 'kvA', 'mlpGate', 'mlpUp', 'sharedGate', 'sharedUp', 'sharedExpertGate'];
const EXPERT_READERS = ['w1', 'w3'] as const;

/**
 * The routers of these formats have no bias, so the skew brings them a constant through a shared direction (that
 * of `random`, [hidden]) which only they read. Every token embedding's component along it is set to the row's
 * own length (the hidden states then lean along it, cosine ~1/√2 at the first layer); every other weight that
 * reads the hidden state loses its component along it, so attention and the MLPs see the tokens almost as before and add
 * nothing shared that the routers' random rows would turn into a random per-expert bias. Router (gate) row e's
 * component along it is set to skew × (1/2 − e/(E−1)) × |row|/√H: its logit then stands ~skew × (1/2 − e/(E−1))
 * standard deviations of the random logits above the mean, so expert 0 gains the most and the last loses the
 * most. The offsets are centred so DeepSeek's sigmoid scores keep their mean. DeepSeek chooses by score +
 * e_score_correction_bias, whose random values, a per-expert constant every token sees alike, would outweigh the
 * skew in the sigmoid's narrow scores: it is set to the same offsets, in standard deviations of its random values.
 * Its skew is then in both the choice and the weights, and the group of experts 0 and 1 is the one its
 * group-limited routing keeps most.
 */
export function routingSkew(c: ModelConfig, skew: number, random: Float32Array): TensorSkew {
  const norm = length(random);
  const direction = random.map((v) => v / norm);
  const embeddings = embeddingsTensor(c).name;
  const routers = new Set<string>();
  const readers = new Set<string>();
  const biases = new Set<string>();
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const layer = layerTensors(c, i);
    if (layer.router) routers.add(layer.router.name);
    if (layer.routerBias) biases.add(layer.routerBias.name);
    for (const role of READERS) if (layer[role]) readers.add(layer[role].name);
  }
  for (const { layer, expert } of allExpertKeys(c)) {
    const w = expertTensors(c, layer, expert);
    for (const role of EXPERT_READERS) readers.add(w[role].name);
  }
  const E = c.numLocalExperts;
  // in standard deviations of the random values beside it (the row's logit, the bias)
  const offset = (e: number) => skew * (0.5 - e / Math.max(E - 1, 1));
  return (t, values) => {
    if (t.name === embeddings) setAlong(values, direction, () => 1);
    else if (readers.has(t.name)) setAlong(values, direction, () => 0);
    // a row's random logit has standard deviation ~|row|/√H × |x|
    else if (routers.has(t.name)) setAlong(values, direction, (e) => offset(e) / Math.sqrt(c.hiddenSize));
    else if (biases.has(t.name)) {
      const spread = length(values) / Math.sqrt(E);
      for (let e = 0; e < E; e++) values[e] = offset(e) * spread;
    }
    return values;
  };
}

/** Sets row r's component along the unit `direction` to scale(r) × |row r|, for each row of a [rows, hidden] matrix. */
function setAlong(values: Float32Array, direction: Float32Array, scale: (row: number) => number): void {
  const H = direction.length;
  for (let r = 0; r < values.length / H; r++) {
    const row = values.subarray(r * H, (r + 1) * H);
    let along = 0;
    for (let d = 0; d < H; d++) along += row[d] * direction[d];
    const by = scale(r) * length(row) - along;
    for (let d = 0; d < H; d++) row[d] += by * direction[d];
  }
}

function length(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum);
}
