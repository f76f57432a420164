// What one gate did since its last pulse: tokens generated, samples of time to first token and between tokens,
// and its incidents (redirects, hedges, suspicions) counted per instance. Live views read it every second.
import type { GatePulse, IncidentKind } from '../protocol/messages.js';

/** How often a gate publishes its pulse. Env: EAAS_PULSE_MS (0: never). */
export const DEFAULT_PULSE_MS = 1_000;
/** A pulse carries at most this many latency samples of each kind (a uniform sample of the second's). */
const MAX_SAMPLES = 256;

/** Keeps a uniform sample of at most MAX_SAMPLES values (reservoir sampling, Vitter's algorithm R). */
class Reservoir {
  values: number[] = [];
  private seen = 0;

  add(v: number): void {
    this.seen++;
    if (this.values.length < MAX_SAMPLES) this.values.push(v);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.values[i] = v;
    }
  }
}

export class PulseTracker {
  private tokens = 0;
  private ttft = new Reservoir();
  private itl = new Reservoir();
  private incidents = new Map<string, GatePulse['incidents'][number]>();
  private since = performance.now();

  /** A token of a request came `ms` after the request arrived (its first) or after its previous token. */
  token(first: boolean, ms: number): void {
    this.tokens++;
    (first ? this.ttft : this.itl).add(ms);
  }

  /** The gate did `kind` about `instance`; the last detail of each (kind, instance) is kept. */
  incident(kind: IncidentKind, instance: string, detail: string): void {
    const key = `${kind} ${instance}`;
    const seen = this.incidents.get(key);
    if (seen) Object.assign(seen, { count: seen.count + 1, detail });
    else this.incidents.set(key, { kind, instance, count: 1, detail });
  }

  /** The pulse since the last one, and a fresh start. */
  take(node: string, running: number, waiting: number): GatePulse {
    const now = performance.now();
    const pulse: GatePulse = {
      node,
      intervalMs: Math.round(now - this.since),
      tokens: this.tokens,
      running,
      waiting,
      ttftMs: this.ttft.values,
      itlMs: this.itl.values,
      incidents: [...this.incidents.values()],
    };
    this.tokens = 0;
    this.ttft = new Reservoir();
    this.itl = new Reservoir();
    this.incidents = new Map();
    this.since = now;
    return pulse;
  }
}
