// What the simulator charges for time: a host's costs (a calibration profile) and a model's shape, and from the
// two, how long a gate step, an expert dispatch and a message take. Only time, compute and the network are modelled.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExpertKey } from '../../model/expert-key.js';
import { SimulationInputError } from './errors.js';

/** The shipped profiles, beside this file in source, and back in the source tree from dist/. */
export const PROFILES_DIR = [new URL('./profiles/', import.meta.url), new URL('../../../runtime/simulate/profiles/', import.meta.url)].map((u) => fileURLToPath(u)).find((d) => existsSync(d))!;
/** The profile measured on the development machine (npm run simulate:calibrate). */
export const SHIPPED_PROFILE = join(PROFILES_DIR, 'amd-epyc-2-core.json');

/** A host's costs. Figures either measured (`npm run simulate:calibrate` writes them) or set by hand for other hardware. */
export interface CostProfile {
  /** Where the figures come from (the CPU and the command, or "assumed: ..."). */
  source: string;
  /** Cores (or devices) per host that compute: each runs one gate step phase or one dispatch at a time. */
  coresPerHost: number;
  /** Expert weights one core reads per ms when a dispatch's rows are few (decode is memory-bound). */
  expertBytesPerMs: number;
  /** Expert multiply-adds ×2 one core does per ms once rows are many. */
  expertFlopsPerMs: number;
  /**
   * Optional: one bench-preset expert's measured time on one core (ms) at each row count, rows ascending. Few rows run
   * slower than both bounds above say, many rows faster, so when present the simulator interpolates these and scales
   * them to another model by its bounds against the bench preset's.
   */
  expertMsByRows?: [number, number][];
  /**
   * A dispatch's fixed cost beyond its hops and its expert math (encoding and decoding rows and answer, starting the
   * runs): half is charged to a core of the gate's host, half to the actor's.
   */
  dispatchFixedMs: number;
  /**
   * Optional (0 when absent), measured in a running cluster under load: the gate process's CPU per generated token
   * beyond its dense work and dispatches (streaming the token, its NATS client, ONNX Runtime's other threads,
   * garbage), charged to its step; the CPU a dispatch costs an actor per row on the wire beyond its fixed cost; and
   * one nats-server's per row of each message it passes, charged to a core of that server's host.
   */
  gateMsPerToken?: number;
  actorMsPerWireRow?: number;
  serverMsPerWireRow?: number;
  /** The gate's cost per MoE layer of a step, fixed (attention weights, router, norms) and per row (attention over the KV cache, router). */
  gateLayerFixedMs: number;
  gateLayerPerRowMs: number;
  /** The gate's cost per step outside the layers (embeddings, LM head, sampling), fixed and per sequence (the LM head reads its last row). */
  gateStepFixedMs: number;
  gateStepPerRowMs: number;
  /** One message's latency from one process to another through the NATS server (publish, route, wake-up). */
  hopMs: number;
  /** A link's bytes per ms (message size ÷ this is added to the hop). */
  linkBytesPerMs: number;
  /** From a process's death to its replacement serving, besides reading its weights: the supervisor's restart of an expert actor. */
  actorRestartMs: number;
  /** A new expert actor (placement change) from start to serving, besides reading its weights. */
  actorStartMs: number;
  /** A starting actor reads (and prepares) its experts' weights at this rate, on one core of its host. */
  weightLoadBytesPerMs: number;
  /** A monolith's restart after any of its hosts fails: every process reloads and rejoins. */
  monolithRestartMs: number;
  /** A monolith's per-layer exchange among its hosts (all-to-all) on top of the bytes. */
  collectiveMs: number;
}

/** A model's shape as the simulator sees it (the bytes and flops an expert and a step cost). */
export interface SimModel {
  name: string;
  moeLayers: number;
  experts: number;
  topK: number;
  hidden: number;
  /** An expert's intermediate size (its three matrices are hidden × this). */
  expertFfn: number;
  /** Bytes per expert weight (4 f32, 2 bf16, ~0.56 int4 with scales). */
  weightBytes: number;
  /** Bytes per value of a hidden-state row on the wire. */
  wireBytes: number;
  /** Attention weights per layer (hidden × (query + key + value + output widths)). */
  attentionParams: number;
  vocab: number;
}

/** The bench preset (eaas model init --preset bench): what the calibration runs. */
export const BENCH_MODEL: SimModel = { name: 'bench', moeLayers: 4, experts: 8, topK: 2, hidden: 1024, expertFfn: 2816, weightBytes: 4, wireBytes: 4, attentionParams: 1024 * (1024 + 2 * 256 + 1024), vocab: 32_000 };
/** OLMoE-1B-7B's shape (allenai/OLMoE-1B-7B-0924), bf16 weights and wire: the paper-scale experiments. */
export const OLMOE_MODEL: SimModel = { name: 'olmoe-1b-7b', moeLayers: 16, experts: 64, topK: 8, hidden: 2048, expertFfn: 1024, weightBytes: 2, wireBytes: 2, attentionParams: 2048 * 4 * 2048, vocab: 50_304 };

export const MODELS: Record<string, SimModel> = { bench: BENCH_MODEL, 'olmoe-1b-7b': OLMOE_MODEL };

/** Every routed expert of the model, in (layer, expert) order. */
export const modelExperts = (m: SimModel): ExpertKey[] => Array.from({ length: m.moeLayers * m.experts }, (_, i) => ({ layer: Math.floor(i / m.experts), expert: i % m.experts }));

/** One expert's weights, bytes. */
export const expertBytes = (m: SimModel): number => 3 * m.hidden * m.expertFfn * m.weightBytes;

/** One expert's bound on `rows` rows: its weights read or its rows computed, whichever is longer. */
const expertBoundMs = (p: CostProfile, m: SimModel, rows: number): number => Math.max(expertBytes(m) / p.expertBytesPerMs, (rows * 6 * m.hidden * m.expertFfn) / p.expertFlopsPerMs);

/** Linear between the measured points; below the first its value, past the last along the last segment. */
function interpolate(points: readonly [number, number][], x: number): number {
  if (x <= points[0][0]) return points[0][1];
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (x <= x1 || i === points.length - 1) return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
  }
  return points[0][1];
}

/** One expert's math on `rows` rows: the measured curve scaled to the model when the profile has one, else its bound. */
export function expertMs(p: CostProfile, m: SimModel, rows: number): number {
  if (!p.expertMsByRows) return expertBoundMs(p, m, rows);
  return (interpolate(p.expertMsByRows, rows) * expertBoundMs(p, m, rows)) / expertBoundMs(p, BENCH_MODEL, rows);
}

/** The actor's compute for one dispatch, as it reports its busy time: its half of the fixed cost, then each expert's math. */
export function dispatchMs(p: CostProfile, m: SimModel, rowsPerExpert: readonly number[]): number {
  let ms = p.dispatchFixedMs / 2;
  for (const rows of rowsPerExpert) ms += expertMs(p, m, rows);
  return ms;
}

/** The actor host's CPU around a dispatch of `wireRows` rows: the actor's per row and, when its nats-server is not the gate's, that server passing the rows in and out. */
export const dispatchAroundMs = (p: CostProfile, wireRows: number, ownServer: boolean): number =>
  wireRows * ((p.actorMsPerWireRow ?? 0) + (ownServer ? 2 * (p.serverMsPerWireRow ?? 0) : 0));

/** The gate's CPU for one side of a dispatch of `wireRows` rows (sending it, or taking its answer): half its share of the fixed cost, and its server passing the message. */
export const gateDispatchSideMs = (p: CostProfile, wireRows: number): number => p.dispatchFixedMs / 4 + wireRows * (p.serverMsPerWireRow ?? 0);

/** One message of `rows` hidden-state rows from one process to another. */
export const messageMs = (p: CostProfile, m: SimModel, rows: number): number => p.hopMs + (rows * m.hidden * m.wireBytes) / p.linkBytesPerMs;

/**
 * The gate's compute for one MoE layer of a step of `rows` rows. The profile's gate figures are measured on the
 * bench preset (the calibration model): another model's are scaled by its attention weights — in bytes for the
 * fixed part (read once a step), in parameters for the per-row part (multiply-adds).
 */
export const gateLayerMs = (p: CostProfile, m: SimModel, rows: number): number =>
  (p.gateLayerFixedMs * (m.attentionParams * m.weightBytes)) / (BENCH_MODEL.attentionParams * BENCH_MODEL.weightBytes) +
  (rows * p.gateLayerPerRowMs * m.attentionParams) / BENCH_MODEL.attentionParams;

/**
 * The gate's compute outside the layers for a step of `seqs` sequences (the LM head reads each one's last row), scaled
 * by the LM head's size as gateLayerMs by attention's, and its CPU around each token (not scaled: it is per token).
 */
export const gateStepMs = (p: CostProfile, m: SimModel, seqs: number): number => {
  const head = (x: SimModel) => x.vocab * x.hidden;
  return (p.gateStepFixedMs * (head(m) * m.weightBytes)) / (head(BENCH_MODEL) * BENCH_MODEL.weightBytes) + (seqs * p.gateStepPerRowMs * head(m)) / head(BENCH_MODEL) + seqs * (p.gateMsPerToken ?? 0);
};

/** A measured curve: at least two [rows, ms] pairs, rows whole and rising, ms above 0. */
function checkCurve(v: unknown, what: string): void {
  const ok =
    Array.isArray(v) &&
    v.length >= 2 &&
    v.every((pt, i) => Array.isArray(pt) && pt.length === 2 && Number.isInteger(pt[0]) && pt[0] > 0 && typeof pt[1] === 'number' && Number.isFinite(pt[1]) && pt[1] > 0 && (i === 0 || pt[0] > (v[i - 1] as number[])[0]));
  if (!ok) throw new SimulationInputError(`${what} must be at least two [rows, ms] pairs, rows whole and rising, ms above 0; got ${JSON.stringify(v)}`);
}

const NUMBER_KEYS = [
  'coresPerHost', 'expertBytesPerMs', 'expertFlopsPerMs', 'dispatchFixedMs', 'gateLayerFixedMs', 'gateLayerPerRowMs', 'gateStepFixedMs', 'gateStepPerRowMs',
  'hopMs', 'linkBytesPerMs', 'actorRestartMs', 'actorStartMs', 'weightLoadBytesPerMs', 'monolithRestartMs', 'collectiveMs',
] as const satisfies readonly (keyof CostProfile)[];

const OPTIONAL_NUMBER_KEYS = ['gateMsPerToken', 'actorMsPerWireRow', 'serverMsPerWireRow'] as const satisfies readonly (keyof CostProfile)[];

/** Checks a parsed profile (a JSON file's content): every figure present, a finite non-negative number; rates positive. */
export function costProfile(raw: unknown, source: string): CostProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SimulationInputError(`${source}: a cost profile must be a JSON object`);
  const r = raw as Record<string, unknown>;
  const known = new Set<string>(['source', 'expertMsByRows', ...OPTIONAL_NUMBER_KEYS, ...NUMBER_KEYS]);
  const unknown = Object.keys(r).find((k) => !known.has(k));
  if (unknown) throw new SimulationInputError(`${source}: unknown cost profile key "${unknown}" (known: ${[...known].join(', ')})`);
  for (const k of [...NUMBER_KEYS, ...OPTIONAL_NUMBER_KEYS.filter((o) => r[o] !== undefined)]) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new SimulationInputError(`${source}: ${k} must be a non-negative number, got ${JSON.stringify(v)}`);
  }
  for (const k of ['coresPerHost', 'expertBytesPerMs', 'expertFlopsPerMs', 'linkBytesPerMs', 'weightLoadBytesPerMs'] as const) {
    if ((r[k] as number) <= 0) throw new SimulationInputError(`${source}: ${k} must be above 0`);
  }
  if (!Number.isInteger(r.coresPerHost)) throw new SimulationInputError(`${source}: coresPerHost must be a whole number`);
  if (r.expertMsByRows !== undefined) checkCurve(r.expertMsByRows, `${source}: expertMsByRows`);
  return { ...(r as unknown as CostProfile), source: typeof r.source === 'string' ? r.source : source };
}

/** Reads a profile file. */
export function readProfile(file: string): CostProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SimulationInputError(`cannot read cost profile ${file}: ${(err as Error).message}`);
  }
  try {
    return costProfile(JSON.parse(text), file);
  } catch (err) {
    if (err instanceof SimulationInputError) throw err;
    throw new SimulationInputError(`${file}: not JSON (${(err as Error).message})`);
  }
}
