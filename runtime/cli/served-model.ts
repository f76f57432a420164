// The model a command reaching a cluster over NATS is about: the one it names, else the only one served.
import type { NatsConnection } from 'nats';
import { servedModels } from '../../actors/gate/client.js';
import { subjectToken } from '../transport/subjects.js';
import { UsageError } from './usage.js';

export async function servedModel(nc: NatsConnection, named: string | undefined): Promise<string> {
  if (named) return subjectToken(named);
  const served = await servedModels(nc);
  if (served.length !== 1) throw new UsageError(served.length === 0 ? 'no gate answers on this NATS: is the cluster up? (or give the model with --name)' : `the cluster serves ${served.join(', ')}: pick one with --name`);
  return served[0];
}
