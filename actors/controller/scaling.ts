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
 * busy (no actor reported) clears both timers; a null latency (no gate measured one) leaves busy alone.
 */
export function advise(actors: number, busy: number | null, itlMs: number | null, now: number, timers: ScalingTimers, c: ScalingConfig, lo: number, hi: number): ScalingAdvice {
  if (busy === null) return { actors, timers: NO_TIMERS, why: 'no busy fraction reported' };
  const pct = (x: number) => x.toFixed(2);
  const late = c.itlSloMs > 0 && itlMs !== null && itlMs > c.itlSloMs;
  const high = busy > c.targetBusy + c.busyBand;
  const wanted = Math.max(Math.ceil((actors * busy) / c.targetBusy), late ? Math.ceil((actors * itlMs!) / c.itlSloMs) : 0);
  if (high || late) {
    const breach = [high ? `mean busy ${pct(busy)} above ${pct(c.targetBusy + c.busyBand)}` : '', late ? `p99 inter-token latency ${Math.round(itlMs!)} ms above ${c.itlSloMs}` : ''].filter((x) => x).join(' and ');
    const since = timers.aboveSince ?? now;
    const next = { aboveSince: since, belowSince: null };
    if (now - since < c.upDelayMs) return { actors, timers: next, why: `${breach} for ${now - since} of ${c.upDelayMs} ms` };
    const to = Math.min(hi, Math.max(actors + 1, wanted));
    return { actors: Math.max(to, actors), timers: next, why: `${breach} for ${now - since} ms${to <= actors ? `, already at the most (${hi}) actors` : ''}` };
  }
  if (busy < c.targetBusy - c.busyBand) {
    const since = timers.belowSince ?? now;
    const next = { aboveSince: null, belowSince: since };
    if (now - since < c.downDelayMs) return { actors, timers: next, why: `mean busy ${pct(busy)} below ${pct(c.targetBusy - c.busyBand)} for ${now - since} of ${c.downDelayMs} ms` };
    const to = Math.max(lo, Math.min(actors - 1, wanted));
    return { actors: Math.min(to, actors), timers: next, why: `mean busy ${pct(busy)} below ${pct(c.targetBusy - c.busyBand)} for ${now - since} ms${to >= actors ? `, already at the fewest (${lo}) actors` : ''}` };
  }
  return { actors, timers: NO_TIMERS, why: `mean busy ${pct(busy)} within ${pct(c.targetBusy)} ± ${pct(c.busyBand)}` };
}
