// Client side of the gate: send a generate request, find which models a cluster serves.
import { ErrorCode, type NatsConnection, type NatsError } from 'nats';
import { encodeMessage } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import { serviceInfos } from './discovery.js';
import { GATE_SERVICE } from './gate.js';
import { decodeGenerateReply, type GenerateReply, type GenerateRequest } from './protocol.js';

/** How long a generate request may take end to end. Env: EAAS_GENERATE_TIMEOUT_MS. */
export const DEFAULT_GENERATE_TIMEOUT_MS = 120_000;

/** The cluster could not answer a generate request. */
export class GenerateError extends Error {
  override readonly name = 'GenerateError';
  constructor(
    message: string,
    readonly code: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export async function requestGenerate(nc: NatsConnection, model: string, req: GenerateRequest, timeoutMs = DEFAULT_GENERATE_TIMEOUT_MS): Promise<GenerateReply> {
  const reply = await nc.request(subjects.generate(model), encodeMessage(req), { timeout: timeoutMs }).catch((err: NatsError) => {
    if (err.code === ErrorCode.NoResponders) throw new GenerateError(`no gate serves model "${model}" (start one with eaas up or eaas node --role gate)`, 503, { cause: err });
    if (err.code === ErrorCode.Timeout) throw new GenerateError(`generate on model "${model}" timed out after ${timeoutMs} ms`, 504, { cause: err });
    throw new GenerateError(`generate on model "${model}" failed: ${err.message}`, 500, { cause: err });
  });
  const code = reply.headers?.get('Nats-Service-Error-Code');
  if (code) throw new GenerateError(`gate answered ${code}: ${reply.headers?.get('Nats-Service-Error')}`, Number(code));
  return decodeGenerateReply(reply.data);
}

/** The models served by the gates of a cluster. */
export async function servedModels(nc: NatsConnection): Promise<string[]> {
  const gates = await serviceInfos(nc, GATE_SERVICE, true);
  return [...new Set(gates.map((g) => g.metadata?.model).filter((m): m is string => !!m))].sort();
}
