// The environment a supervisor hands an expert actor process.
export const EXPERT_ENV = {
  nats: 'EAAS_NATS',
  modelDir: 'EAAS_MODEL_DIR',
  model: 'EAAS_MODEL',
  instance: 'EAAS_INSTANCE',
  node: 'EAAS_NODE',
  experts: 'EAAS_EXPERTS',
  /** int4 | int8 (the `--quantize` name); unset: float32. */
  quantize: 'EAAS_QUANTIZE',
  delayMs: 'EAAS_EXPERT_DELAY_MS',
  creds: 'EAAS_CREDS',
  tlsCa: 'EAAS_TLS_CA',
} as const;
