// The environment a supervisor hands an expert actor process, and the message that hands it. What only a parent
// sets is EAAS_CHILD_*, so it never reads as one of the CLI's EAAS_<FLAG> fallbacks (EAAS_MODEL is a directory to
// the CLI, a name to a child); the user's own knobs (EAAS_QUANTIZE, EAAS_EXPERT_DELAY_MS) keep their names.
export const EXPERT_ENV = {
  nats: 'EAAS_CHILD_NATS',
  modelDir: 'EAAS_CHILD_MODEL_DIR',
  model: 'EAAS_CHILD_MODEL',
  instance: 'EAAS_CHILD_INSTANCE',
  node: 'EAAS_CHILD_NODE',
  experts: 'EAAS_CHILD_EXPERTS',
  /** int4 | int8 (the `--quantize` name); unset: float32. */
  quantize: 'EAAS_QUANTIZE',
  delayMs: 'EAAS_EXPERT_DELAY_MS',
  creds: 'EAAS_CHILD_CREDS',
  tlsCa: 'EAAS_CHILD_TLS_CA',
  /** A spare (booted in the idle class, on a cluster without credentials) warms its dispatch path with this many dispatches. */
  warmUp: 'EAAS_CHILD_WARM_UP',
} as const;

/**
 * Who an expert process is to be, sent over its IPC channel once: the `EAAS_CHILD_*` variables (and credentials) of
 * one actor. A process is forked before it is known whom it will serve, so a spare can boot ahead of a restart.
 */
export interface ActorAssignment {
  kind: 'assign';
  env: Record<string, string>;
  /** The spare booted in the idle scheduling class: every thread goes back to the normal one before it serves. */
  leaveIdleClass?: boolean;
}

export const isActorAssignment = (m: unknown): m is ActorAssignment =>
  typeof m === 'object' && m !== null && (m as ActorAssignment).kind === 'assign' && typeof (m as ActorAssignment).env === 'object';
