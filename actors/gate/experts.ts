// What a gate is given to run its MoE rows: experts behind NATS (RemoteExperts) or in its own process (InProcessExperts).
import type { ExpertBackend } from '../../model/forward.js';
import type { LoadTracker } from './load-report.js';
import type { PulseTracker } from './pulse.js';

export interface GateExperts extends ExpertBackend {
  /** Added to the stats of the gate's generate endpoint (dispatches, redirects, ...; none in process). */
  readonly counters: Readonly<Record<string, number>>;
  /** Tokens routed per expert, and for remote experts the time each instance took: the gate's load report. */
  readonly load: LoadTracker;
  /** Where remote experts count their redirects, hedges and suspicions for the gate's pulse (none in process). */
  incidents?: PulseTracker;
  /** The expert instances rows go to now (none in process): what a supervisor waits for before it retires the old ones. */
  routable(): string[];
  /** Lets go of what the experts hold: the directory's subscriptions, or the in-process sessions. */
  stop(): Promise<void>;
}
