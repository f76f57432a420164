// The environment a supervisor hands an expert actor process. What only a parent sets is EAAS_CHILD_*, so it never
// reads as one of the CLI's EAAS_<FLAG> fallbacks (EAAS_MODEL is a directory to the CLI, a name to a child); the
// user's own knobs (EAAS_QUANTIZE, EAAS_EXPERT_DELAY_MS) keep their names.
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
} as const;
