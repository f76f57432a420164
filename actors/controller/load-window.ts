// The windowed load the controller decides from: tokens routed per (layer, expert) and each actor's busy fraction.
import { formatExpertKey, type ExpertKey } from '../../model/expert-key.js';
import { isLatencyBin, mergeBins, type LatencyBins } from '../../observability/load-window.js';

/** Tokens the gates routed to one expert over the window (all its replicas together). */
export interface ExpertTokens extends ExpertKey {
  tokens: number;
}

/** The share of the window one expert actor spent computing, 0..1. */
export interface ActorBusy {
  instance: string;
  busy: number;
}

/**
 * One window of load, as the controller aggregates it from the gates' and actors' reports: totals over the
 * window (the policy divides the tokens by its length into rates). An expert missing from `experts` routed no
 * tokens; an empty `actors` means no busy signal (no scaling).
 */
export interface LoadWindow {
  /** Length of the window in ms; 0 when no gate reported (no tokens to learn from). */
  windowMs: number;
  experts: ExpertTokens[];
  actors: ActorBusy[];
  /** The time between the gates' sequences' tokens (their clients' inter-token latency) as latency bins; absent when no gate measured one. */
  itl?: LatencyBins;
}

/** Tokens per expert id (`layer:expert`); an expert reported twice counts both. */
export function tokensByExpert(load: LoadWindow): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of load.experts) out.set(formatExpertKey(e), (out.get(formatExpertKey(e)) ?? 0) + e.tokens);
  return out;
}

/** Mean busy fraction over the reporting actors, each taken as at most 1 (timing jitter), or null when none reported. */
export function meanBusy(load: LoadWindow): number | null {
  if (load.actors.length === 0) return null;
  return load.actors.reduce((sum, a) => sum + Math.min(1, a.busy), 0) / load.actors.length;
}

/** A short description of what is wrong with a window, or null when it is usable. */
export function loadProblem(load: LoadWindow): string | null {
  const bad = (x: number) => !Number.isFinite(x) || x < 0;
  if (bad(load.windowMs)) return `window of ${load.windowMs} ms`;
  const e = load.experts.find((x) => bad(x.tokens) || !Number.isInteger(x.layer) || !Number.isInteger(x.expert));
  if (e) return `expert ${formatExpertKey(e)} has tokens ${e.tokens}`;
  const a = load.actors.find((x) => bad(x.busy));
  if (a) return `actor ${a.instance} has busy fraction ${a.busy}`;
  const b = load.itl?.find((x) => !isLatencyBin(x));
  if (b) return `inter-token latency bin ${JSON.stringify(b)} is not an integer bin in range with a non-negative count`;
  return null;
}

/** One window from the latest report of every gate: tokens summed per expert, busy summed per actor (each gate's share of its time), latency bins added up. */
export function mergeReports(reports: readonly LoadWindow[]): LoadWindow {
  const tokens = new Map<string, ExpertTokens>();
  const busy = new Map<string, number>();
  for (const r of reports) {
    for (const e of r.experts) {
      const k = formatExpertKey(e);
      tokens.set(k, { layer: e.layer, expert: e.expert, tokens: (tokens.get(k)?.tokens ?? 0) + e.tokens });
    }
    for (const a of r.actors) busy.set(a.instance, (busy.get(a.instance) ?? 0) + a.busy);
  }
  const itl = reports.flatMap((r) => (r.itl === undefined ? [] : [r.itl]));
  return {
    ...(itl.length > 0 ? { itl: mergeBins(itl) } : {}),
    windowMs: Math.max(0, ...reports.map((r) => r.windowMs)),
    experts: [...tokens.values()].sort((a, b) => a.layer - b.layer || a.expert - b.expert),
    actors: [...busy].map(([instance, b]) => ({ instance, busy: b })).sort((a, b) => a.instance.localeCompare(b.instance)),
  };
}
