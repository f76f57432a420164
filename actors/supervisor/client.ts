// Client side of the supervisor: retire (drain and stop) one expert actor, ask a supervisor for its children.
import type { NatsConnection } from 'nats';
import { decodeMessage, encodeMessage } from '../../runtime/transport/codec.js';
import { serviceInfos } from '../../runtime/transport/discovery.js';
import { supervisorEndpoint } from '../../runtime/transport/subjects.js';
import { answerError, RetireError } from '../protocol/errors.js';
import { EXPERT_SERVICE } from '../protocol/services.js';

/** Draining waits for in-flight dispatches; this bounds the whole retirement. */
export const RETIRE_TIMEOUT_MS = 30_000;

/** What a supervisor answers on its status endpoint. */
export interface SupervisorStatus {
  node: string;
  strategy: string;
  children: { instance: string; group: number; state: string; pid?: number; restarts: number; experts: string[] }[];
}

/** Finds the expert actor `instance`, asks its supervisor to retire it, resolves once it has exited. */
export async function retireInstance(nc: NatsConnection, instance: string, force = false): Promise<{ model: string; node: string }> {
  const info = (await serviceInfos(nc, EXPERT_SERVICE)).find((i) => i.metadata?.instance === instance);
  if (!info) throw new RetireError(`no expert actor named ${instance} answers discovery (see eaas status for the instance names)`);
  const { model, node } = info.metadata as { model: string; node: string };
  const reply = await nc.request(supervisorEndpoint(model, node, 'retire'), encodeMessage({ instance, force }), { timeout: RETIRE_TIMEOUT_MS });
  const err = answerError(reply);
  if (err) throw new RetireError(`supervisor of ${node} answered ${err.code}: ${err.message}`, { cause: err });
  decodeMessage(reply.data);
  return { model, node };
}

/** Asks the supervisor of `node` for its children. */
export async function supervisorStatus(nc: NatsConnection, model: string, node: string, timeoutMs = 1000): Promise<SupervisorStatus> {
  const reply = await nc.request(supervisorEndpoint(model, node, 'status'), new Uint8Array(0), { timeout: timeoutMs });
  return decodeMessage(reply.data) as SupervisorStatus;
}
