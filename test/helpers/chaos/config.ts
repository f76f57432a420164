// Chaos suite settings: short (CI, `npm test`) or full (`npm run chaos`) durations and client bounds.

/** True when the chaos scenarios should run their short form: CHAOS_SHORT=1, or CI=true unless CHAOS_SHORT=0. */
export const SHORT_BY_ENV = process.env.CHAOS_SHORT === '1' || (process.env.CHAOS_SHORT !== '0' && process.env.CI === 'true');

export interface ChaosTiming {
  short: boolean;
  /** How long the load (and the faults) run. */
  loadMs: number;
  /** How long the fault-free reference run lasts. */
  baselineMs: number;
  /** The client-side bound of one generate request: no answer by then is an unknown outcome. */
  requestTimeoutMs: number;
  /** How long the cluster may take to be back at full strength after the load. */
  recoverMs: number;
  /** Clients with a request in flight at all times. */
  concurrency: number;
}

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

export function chaosTiming(short = SHORT_BY_ENV): ChaosTiming {
  const concurrency = envInt('CHAOS_CONCURRENCY', 4);
  return short
    ? { short, loadMs: envInt('CHAOS_LOAD_MS', 6_000), baselineMs: envInt('CHAOS_BASELINE_MS', 2_000), requestTimeoutMs: envInt('CHAOS_REQUEST_TIMEOUT_MS', 30_000), recoverMs: 30_000, concurrency }
    : { short, loadMs: envInt('CHAOS_LOAD_MS', 25_000), baselineMs: envInt('CHAOS_BASELINE_MS', 8_000), requestTimeoutMs: envInt('CHAOS_REQUEST_TIMEOUT_MS', 30_000), recoverMs: 45_000, concurrency };
}

/** The seed of the prompt set and of every random fault choice; print it to replay a run. */
export const CHAOS_SEED = envInt('CHAOS_SEED', 20250);
