// Client side of the supervisor: retire (drain and stop) one expert actor, wherever it runs.
import type { NatsConnection } from 'nats';
import { decodeMessage, encodeMessage } from '../runtime/codec.js';
import { serviceInfos } from './discovery.js';
import { EXPERT_SERVICE } from './expert.js';

/** Draining waits for in-flight dispatches; this bounds the whole retirement. */
export const RETIRE_TIMEOUT_MS = 30_000;

export class RetireError extends Error {
  override readonly name = 'RetireError';
}

export const supervisorSubject = (model: string, node: string, endpoint: 'status' | 'retire') => `eaas.v1.${model}.supervisor.${node}.${endpoint}`;

/** Finds the expert actor `instance`, asks its supervisor to retire it, resolves once it has exited. */
export async function retireInstance(nc: NatsConnection, instance: string): Promise<{ model: string; node: string }> {
  const info = (await serviceInfos(nc, EXPERT_SERVICE)).find((i) => i.metadata?.instance === instance);
  if (!info) throw new RetireError(`no expert actor named ${instance} answers discovery (see eaas status for the instance names)`);
  const { model, node } = info.metadata as { model: string; node: string };
  const reply = await nc.request(supervisorSubject(model, node, 'retire'), encodeMessage({ instance }), { timeout: RETIRE_TIMEOUT_MS });
  const code = reply.headers?.get('Nats-Service-Error-Code');
  if (code) throw new RetireError(`supervisor of ${node} answered ${code}: ${reply.headers?.get('Nats-Service-Error')}`);
  decodeMessage(reply.data);
  return { model, node };
}
