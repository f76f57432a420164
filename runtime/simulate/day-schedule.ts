// The "compressed day" of issue 9: a deterministic open-loop arrival schedule whose rate follows a daily curve,
// whose burstiness is the Azure LLM inference trace's own (its inter-arrival gaps, time-warped onto the curve),
// and whose request lengths are the trace's rows scaled down to what a small test model serves.
import { readFileSync } from 'node:fs';
import { prng } from './prng.js';

/** One row of the trace: arrival time (s from the first row), prompt (context) and generated tokens. */
export interface TraceRow {
  at: number;
  context: number;
  generated: number;
}

/** Reads `TIMESTAMP,ContextTokens,GeneratedTokens` (timestamps as `YYYY-MM-DD HH:MM:SS.fffffff`, UTC). */
export function readTrace(file: string): TraceRow[] {
  const lines = readFileSync(file, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  const rows = lines.map((l) => {
    const [ts, ctx, gen] = l.split(',');
    // 7 fractional digits: Date takes 3, the rest are below a millisecond
    const [sec, frac = '0'] = ts.trim().split('.');
    const ms = Date.parse(`${sec.replace(' ', 'T')}Z`) + Number(`0.${frac}`) * 1000;
    return { at: ms / 1000, context: Number(ctx), generated: Number(gen) };
  });
  if (rows.length < 2 || rows.some((r) => !Number.isFinite(r.at) || !Number.isFinite(r.context) || !Number.isFinite(r.generated))) throw new Error(`${file}: not a TIMESTAMP,ContextTokens,GeneratedTokens trace`);
  const t0 = rows[0].at;
  return rows.map((r) => ({ ...r, at: r.at - t0 }));
}

/** The daily curve: the share of the peak rate at time t of a day of length T, night (trough) at 0 and T, peak at T/2. */
export const curve = (t: number, T: number, trough: number) => trough + (1 - trough) * (1 - Math.cos((2 * Math.PI * t) / T)) / 2;

/** ∫0^t curve(s) ds. */
export const curveIntegral = (t: number, T: number, trough: number) => trough * t + ((1 - trough) / 2) * (t - (T / (2 * Math.PI)) * Math.sin((2 * Math.PI * t) / T));

/** How trace lengths become request lengths: divided by these, rounded, kept within 1..cap. */
export interface LengthScaling {
  promptDiv: number;
  promptCap: number;
  outputDiv: number;
  outputCap: number;
}

export const DEFAULT_SCALING: LengthScaling = { promptDiv: 32, promptCap: 64, outputDiv: 8, outputCap: 32 };

export interface Arrival {
  /** Index in the schedule. */
  id: number;
  /** Seconds from the start of the day. */
  at: number;
  prompt: number[];
  maxTokens: number;
  /** The trace row it came from (for the record). */
  row: number;
}

export interface Schedule {
  arrivals: Arrival[];
  /** Length of the day, s. */
  dayS: number;
  peak: number;
  trough: number;
  /** Coefficient of variation of the trace gaps used (after warping onto a flat rate: burstiness > 1). */
  gapCv: number;
  /** Trace rows whose prompt or output hit the cap. */
  capped: { prompt: number; output: number };
  firstRow: number;
}

/**
 * The arrivals of one day of `dayS` seconds at `peak` requests/s. The trace's arrival times, from a seeded row on
 * (wrapping around its end), are normalised to a unit mean rate (u_i = elapsed × mean rate) and warped onto the
 * curve: arrival i happens when the curve's cumulative rate reaches u_i, so the gaps keep the trace's burstiness
 * while the rate follows the day. Each arrival keeps its row's (prompt, output) lengths, scaled; its prompt ids are
 * drawn from the seeded PRNG within the vocabulary (ids 0-2 are special).
 */
export function buildSchedule(trace: TraceRow[], o: { dayS: number; peak: number; trough: number; seed: number; vocabSize: number; scaling?: LengthScaling }): Schedule {
  const s = o.scaling ?? DEFAULT_SCALING;
  const rnd = prng(o.seed);
  const span = trace[trace.length - 1].at;
  const meanGap = span / (trace.length - 1);
  const first = Math.floor(rnd() * trace.length);
  const total = o.peak * curveIntegral(o.dayS, o.dayS, o.trough);
  const arrivals: Arrival[] = [];
  const gaps: number[] = [];
  let u = 0;
  for (let k = 0; ; k++) {
    const i = (first + k) % trace.length;
    if (k > 0) {
      const prev = (first + k - 1) % trace.length;
      // across the wrap the gap is the trace's mean
      const gap = i > prev ? trace[i].at - trace[prev].at : meanGap;
      gaps.push(gap / meanGap);
      u += gap / meanGap;
    }
    if (u >= total) break;
    const at = invert(u, o.peak, o.dayS, o.trough);
    const row = trace[i];
    const plen = Math.min(s.promptCap, Math.max(1, Math.round(row.context / s.promptDiv)));
    const maxTokens = Math.min(s.outputCap, Math.max(1, Math.round(row.generated / s.outputDiv)));
    const vocab = Math.min(o.vocabSize, 512) - 3;
    const prompt = Array.from({ length: plen }, () => 3 + Math.floor(rnd() * vocab));
    arrivals.push({ id: arrivals.length, at, prompt, maxTokens, row: i });
  }
  const mean = gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length);
  const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, gaps.length));
  const capped = {
    prompt: arrivals.filter((a) => trace[a.row].context / s.promptDiv > s.promptCap).length,
    output: arrivals.filter((a) => trace[a.row].generated / s.outputDiv > s.outputCap).length,
  };
  return { arrivals, dayS: o.dayS, peak: o.peak, trough: o.trough, gapCv: sd / mean, capped, firstRow: first };
}

/** The time at which peak × ∫curve reaches u (bisection: the integral is increasing). */
function invert(u: number, peak: number, T: number, trough: number): number {
  let lo = 0;
  let hi = T;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (peak * curveIntegral(mid, T, trough) < u) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * What a perfect autoscaler would spend relative to static provisioning for the peak: at every instant the fewest
 * whole actors that carry the curve's load at the peak's actors per unit load, never below `lo`.
 */
export function oracleRatio(lo: number, hi: number, trough: number): number {
  const n = 10_000;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.max(lo, Math.ceil(hi * curve(i / n, 1, trough) - 1e-9));
  return sum / n / hi;
}
