// Every EAAS_* tuning knob, declared once (variable, default, one line of doc) and read here only.
import { DEFAULT_MAX_INFLIGHT } from '../../actors/api/limits.js';
import { DEFAULT_CONTROLLER_TICK_MS } from '../../actors/controller/controller.js';
import { DEFAULT_LEASE_MS } from '../../actors/controller/lease.js';
import { DEFAULT_DISCOVERY_MS } from '../../actors/gate/directory.js';
import { DEFAULT_DISPATCH_TIMEOUT_MS, DEFAULT_NO_REPLICA_WAIT_MS } from '../../actors/gate/remote-experts.js';
import { DEFAULT_GENERATE_TIMEOUT_MS } from '../../actors/gate/client.js';
import { DEFAULT_PULSE_MS } from '../../actors/gate/pulse.js';
import { DEFAULT_MAX_QUEUED, DEFAULT_MAX_REQUEST_BYTES } from '../../actors/gate/limits.js';
import { DEFAULT_ACTOR_SILENCE_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_HANG_MS } from '../../actors/supervisor/watchdog.js';
import { DEFAULT_MAX_BATCH } from '../../model/engine.js';
import { DEFAULT_LOAD_REPORT_MS, DEFAULT_LOAD_WINDOW_MS } from '../../observability/load-window.js';

export class SettingError extends Error {
  override readonly name = 'SettingError';
}

interface Declaration {
  env: string;
  /** undefined: unset unless given (the doc says what that means). */
  default: number | undefined;
  min: number;
  doc: string;
}

/** The declarations; the README's table of tuning knobs is checked against them by a test. */
export const SETTINGS = {
  dispatchTimeoutMs: { env: 'EAAS_DISPATCH_TIMEOUT_MS', default: DEFAULT_DISPATCH_TIMEOUT_MS, min: 1, doc: 'a dispatch not answered in time is redirected to another replica, and its instance is suspected (circuit breaker)' },
  noReplicaWaitMs: { env: 'EAAS_NO_REPLICA_WAIT_MS', default: DEFAULT_NO_REPLICA_WAIT_MS, min: 1, doc: 'rows wait this long for a replica of their expert to come up, then the request fails naming the experts' },
  hedge: { env: 'EAAS_HEDGE', default: 1, min: 0, doc: '`0` turns off hedging of straggling dispatches' },
  heartbeatMs: { env: 'EAAS_HEARTBEAT_MS', default: DEFAULT_HEARTBEAT_MS, min: 1, doc: 'expert actor heartbeat period (to its supervisor, over the IPC channel)' },
  hangMs: { env: 'EAAS_HANG_MS', default: DEFAULT_HANG_MS, min: 1, doc: 'a child without heartbeats for this long is killed and restarted' },
  spareActors: { env: 'EAAS_SPARE_ACTORS', default: 1, min: 0, doc: 'expert actor processes a supervisor keeps booted ahead, each taking the next restart or new actor without Node\'s start (about 0.6 s and 60 MB each); 0: none' },
  spareWarmUp: { env: 'EAAS_SPARE_WARM_UP', default: 2000, min: 0, doc: 'dispatches a spare sends itself over NATS while it idles, so its code is compiled before it takes over an actor (only where it boots in the idle scheduling class and the cluster needs no credentials); 0: none' },
  actorSilenceMs: { env: 'EAAS_ACTOR_SILENCE_MS', default: DEFAULT_ACTOR_SILENCE_MS, min: 1, doc: "an expert actor's thread silent for this long (stuck in a computation) is taken as hung: its process stops beating, so it is restarted" },
  discoveryMs: { env: 'EAAS_DISCOVERY_MS', default: DEFAULT_DISCOVERY_MS, min: 1, doc: 'the gate re-discovers expert instances this often (heals missed events)' },
  generateTimeoutMs: { env: 'EAAS_GENERATE_TIMEOUT_MS', default: DEFAULT_GENERATE_TIMEOUT_MS, min: 1, doc: 'client-side bound of `eaas generate --nats`' },
  maxBatch: { env: 'EAAS_MAX_BATCH', default: DEFAULT_MAX_BATCH, min: 1, doc: 'most sequences in one forward step of a gate' },
  maxRequestBytes: { env: 'EAAS_MAX_REQUEST_BYTES', default: DEFAULT_MAX_REQUEST_BYTES, min: 1, doc: 'a generate request larger than this is refused (413) before it is decoded' },
  maxQueued: { env: 'EAAS_MAX_QUEUED', default: DEFAULT_MAX_QUEUED, min: 1, doc: 'a gate holding this many sequences (waiting or running) refuses new requests with 429' },
  apiMaxInflight: { env: 'EAAS_API_MAX_INFLIGHT', default: DEFAULT_MAX_INFLIGHT, min: 1, doc: 'an API front with this many requests in progress answers 429 with Retry-After' },
  loadReportMs: { env: 'EAAS_LOAD_REPORT_MS', default: DEFAULT_LOAD_REPORT_MS, min: 0, doc: 'a gate publishes the load it saw (tokens per expert, time per instance, the gaps between the tokens of each sequence) this often on `eaas.v1.<model>.load.<node>`, an expert actor its own (compute time, rows) on `eaas.v1.<model>.load.<node>.<instance>`; 0: never' },
  pulseMs: { env: 'EAAS_PULSE_MS', default: DEFAULT_PULSE_MS, min: 0, doc: 'a gate publishes its last second (tokens, requests running and waiting, TTFT and ITL samples, redirects, hedges) this often on `eaas.v1.<model>.pulse.<node>`, for the dashboard; 0: never' },
  loadWindowMs: { env: 'EAAS_LOAD_WINDOW_MS', default: DEFAULT_LOAD_WINDOW_MS, min: 1, doc: 'the sliding window a load report covers' },
  controllerTickMs: { env: 'EAAS_CONTROLLER_TICK_MS', default: DEFAULT_CONTROLLER_TICK_MS, min: 1, doc: 'the active placement controller decides this often (`--autoscale`)' },
  leaseMs: { env: 'EAAS_LEASE_MS', default: DEFAULT_LEASE_MS, min: 1, doc: 'a controller lease not renewed for this long is taken over by a standby' },
  metricsPort: { env: 'EAAS_METRICS_PORT', default: undefined, min: 0, doc: 'a node serves its load metrics (tokens per expert, busy fraction per actor, balancedness, rebalances) at `/metrics` on this port of the `--http-host` address (0: a free one); unset: no such endpoint (an API front shows them on its own `/metrics` anyway)' },
  ortThreads: { env: 'EAAS_ORT_THREADS', default: undefined, min: 0, doc: 'ONNX Runtime intra-op threads; unset: 0 (all cores) in the gate and monolithic, 1 in expert actors' },
  expertDelayMs: { env: 'EAAS_EXPERT_DELAY_MS', default: undefined, min: 0, doc: 'test knob: an expert actor waits this long before each answer (a slow replica)' },
  expertStallMs: { env: 'EAAS_EXPERT_STALL_MS', default: undefined, min: 0, doc: "test knob: an expert actor's thread blocks this long in each dispatch (a computation that does not return)" },
} as const satisfies Record<string, Declaration>;

export type Settings = { -readonly [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['default'] extends number ? number : number | undefined };

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const out: Record<string, number | undefined> = {};
  for (const [key, d] of Object.entries(SETTINGS) as [string, Declaration][]) {
    const raw = env[d.env];
    if (raw === undefined || raw.trim() === '') {
      out[key] = d.default;
      continue;
    }
    const v = Number(raw);
    if (!Number.isInteger(v) || v < d.min) throw new SettingError(`${d.env} must be an integer >= ${d.min}, got "${raw}"`);
    out[key] = v;
  }
  return out as Settings;
}
