// How many expert actors: toward a target busy fraction, and below an inter-token latency objective when one is set,
// with a dead band and delays so a spike is not chased.
export interface ScalingConfig {
  /** Fewest and most expert actors (the policy raises the minimum to what the minimum replicas need). */
  minActors: number;
  maxActors: number;
  /** The mean busy fraction per actor to steer toward, 0..1. */
  targetBusy: number;
  /** Half-width of the dead band around the target: inside it nothing is scaled. */
  busyBand: number;
  /** How long the mean must stay above target + band before scaling up, below target − band before scaling down. */
  upDelayMs: number;
  downDelayMs: number;
  /**
   * The gates' p99 inter-token latency to keep below (ms), a service-level objective: above it the count grows as
   * when busy is above its band (the HPA count of latency ÷ objective, if larger), and it never shrinks while the
   * latency is above it. Busy time alone lets a cluster run each actor at the target however slow its steps get
   * (fewer actors mean more rows each in a step that carries prompts). 0: busy alone. Where the gates bound the
   * steps, more actors cannot lower the latency: an objective below what they give holds `maxActors` for nothing.
   */
  itlSloMs: number;
  /**
   * Scale for the load expected this far ahead (ms): while the gates' token rate grows, the busy fraction the count
   * follows is projected forward as if the growth since one load window ago went on (`projectBusy`). A change
   * serves only after its up delay and its actors' start, so a ramp met at the load of the moment is met late: on
   * the simulator's day, with the latency objective, 15 s cut the p99 inter-token latency from 1.26 to 1.05 × static's
   * for 0.73 × its actor-seconds instead of 0.66. 0: the load of the moment.
   */
  leadMs: number;
}

/** The gates' total token rate at a time: [ms, tokens per second]. Plain data, kept in the policy's state. */
export type RateSample = [number, number];

/** Most growth projected over the lead (×), and the most busy fraction projected: one noisy window must not ask for every actor. */
export const MAX_LEAD_GROWTH = 3;
export const MAX_LEAD_BUSY = 1.5;

/**
 * `history` with the rate at `now` added: the samples of the last `lookbackMs` and the one just before them (the
 * baseline `projectBusy` compares with); emptied first when `now` is before its last sample (another clock).
 */
export function recordRate(history: readonly RateSample[], now: number, tokensPerS: number, lookbackMs: number): RateSample[] {
  const kept = history.length > 0 && history[history.length - 1][0] > now ? [] : [...history];
  kept.push([now, tokensPerS]);
  while (kept.length > 1 && now - kept[1][0] >= lookbackMs) kept.shift();
  return kept;
}

/** A busy fraction projected ahead, and the growth factor that gave it. */
export interface BusyAhead {
  busy: number;
  growth: number;
}

/**
 * The busy fraction `leadMs` ahead if the token rate keeps growing as it did since the oldest sample of `history`
 * (taken at least a third of `lookbackMs` ago): busy × (rate now ÷ rate then)^(leadMs ÷ elapsed), the growth at most
 * MAX_LEAD_GROWTH and the result at most MAX_LEAD_BUSY; busy itself when the rate did not grow or is not known long
 * enough. `growth` is the factor applied.
 */
export function projectBusy(busy: number, history: readonly RateSample[], now: number, leadMs: number, lookbackMs: number): BusyAhead {
  if (leadMs <= 0 || history.length < 2) return { busy, growth: 1 };
  const [then, before] = history[0];
  const rate = history[history.length - 1][1];
  const elapsed = now - then;
  if (elapsed < lookbackMs / 3 || before <= 0 || rate <= before) return { busy, growth: 1 };
  const growth = Math.min(MAX_LEAD_GROWTH, (rate / before) ** (leadMs / elapsed));
  return { busy: Math.max(busy, Math.min(MAX_LEAD_BUSY, busy * growth)), growth };
}

/** When the mean busy fraction went (and stayed) above or below the band; null when it is not there now. Plain data, to store. */
export interface ScalingTimers {
  aboveSince: number | null;
  belowSince: number | null;
}

export const NO_TIMERS: ScalingTimers = { aboveSince: null, belowSince: null };

export interface ScalingAdvice {
  /** The number of actors wanted now (equal to `actors` when nothing is due). */
  actors: number;
  /** The timers after this observation; the caller resets them to NO_TIMERS once it acts on a change. */
  timers: ScalingTimers;
  why: string;
}

/**
 * One observation of the mean busy fraction (and the gates' p99 inter-token latency) at `now`. Past its delay, the
 * wanted count is the Kubernetes HPA's `ceil(actors × busy ÷ target)` (kubernetes.io, Horizontal Pod Autoscaling,
 * "Algorithm details"), with a latency over its objective also `ceil(actors × latency ÷ objective)` (HPA takes the
 * largest of its metrics' counts), at least one step in the direction of the breach, kept within [lo, hi]. A null
 * busy (no actor reported) clears both timers; a null latency (no gate measured one) leaves busy alone. A `lead`
 * (projectBusy's) above the measured busy stands in for it: a growing load is met early, and sheds fewer actors or none.
 */
export function advise(actors: number, measured: number | null, itlMs: number | null, now: number, timers: ScalingTimers, c: ScalingConfig, lo: number, hi: number, lead?: BusyAhead): ScalingAdvice {
  if (measured === null) return { actors, timers: NO_TIMERS, why: 'no busy fraction reported' };
  const pct = (x: number) => x.toFixed(2);
  const ahead = lead !== undefined && lead.busy > measured;
  const busy = ahead ? lead.busy : measured;
  const said = ahead ? `mean busy ${pct(measured)}, ${pct(busy)} in ${c.leadMs / 1000} s at the token rate's growth (×${lead.growth.toFixed(2)}),` : `mean busy ${pct(busy)}`;
  const late = c.itlSloMs > 0 && itlMs !== null && itlMs > c.itlSloMs;
  const high = busy > c.targetBusy + c.busyBand;
  const wanted = Math.max(Math.ceil((actors * busy) / c.targetBusy), late ? Math.ceil((actors * itlMs!) / c.itlSloMs) : 0);
  if (high || late) {
    const breach = [high ? `${said} above ${pct(c.targetBusy + c.busyBand)}` : '', late ? `p99 inter-token latency ${Math.round(itlMs!)} ms above ${c.itlSloMs}` : ''].filter((x) => x).join(' and ');
    const since = timers.aboveSince ?? now;
    const next = { aboveSince: since, belowSince: null };
    if (now - since < c.upDelayMs) return { actors, timers: next, why: `${breach} for ${now - since} of ${c.upDelayMs} ms` };
    const to = Math.min(hi, Math.max(actors + 1, wanted));
    return { actors: Math.max(to, actors), timers: next, why: `${breach} for ${now - since} ms${to <= actors ? `, already at the most (${hi}) actors` : ''}` };
  }
  if (busy < c.targetBusy - c.busyBand) {
    const since = timers.belowSince ?? now;
    const next = { aboveSince: null, belowSince: since };
    if (now - since < c.downDelayMs) return { actors, timers: next, why: `${said} below ${pct(c.targetBusy - c.busyBand)} for ${now - since} of ${c.downDelayMs} ms` };
    const to = Math.max(lo, Math.min(actors - 1, wanted));
    return { actors: Math.min(to, actors), timers: next, why: `${said} below ${pct(c.targetBusy - c.busyBand)} for ${now - since} ms${to >= actors ? `, already at the fewest (${lo}) actors` : ''}` };
  }
  return { actors, timers: NO_TIMERS, why: `${said} within ${pct(c.targetBusy)} ± ${pct(c.busyBand)}` };
}
