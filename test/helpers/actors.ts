// Finds an expert actor's process: its supervisor knows the pid (an actor's name is not in its environment: a
// process is told which actor it is after it boots).
import type { NatsConnection } from 'nats';
import { EXPERT_SERVICE } from '../../actors/protocol/services.js';
import { supervisorStatus } from '../../actors/supervisor/client.js';
import { serviceInfos } from '../../runtime/transport/discovery.js';

export async function actorPid(nc: NatsConnection, instance: string): Promise<number | undefined> {
  const info = (await serviceInfos(nc, EXPERT_SERVICE)).find((i) => i.metadata?.instance === instance);
  if (!info?.metadata) return undefined;
  const status = await supervisorStatus(nc, info.metadata.model, info.metadata.node);
  return status.children.find((c) => c.instance === instance)?.pid;
}
