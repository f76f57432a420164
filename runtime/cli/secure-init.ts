// `eaas secure init DIR --model NAME [--hosts H,...]`: the TLS files, server auth and role credentials of a
// secure deployment run elsewhere (the Kubernetes manifests in ops/k8s mount them as Secrets).
import { resolve } from 'node:path';
import { exportDeployment } from '../node/secure.js';
import { subjectToken } from '../transport/subjects.js';
import { parseFlags, requiredString, stringFlag, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const FLAGS = {
  model: { type: 'string', arg: 'NAME', help: 'the model name the cluster serves, on its subjects (required)' },
  hosts: { type: 'string', arg: 'H,...', help: 'more names for the server certificate', default: '127.0.0.1 and localhost only' },
} as const satisfies FlagTable;

export async function secureInitCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (positionals.length !== 1) throw new UsageError('usage: eaas secure init DIR --model NAME [--hosts nats-0.nats,nats-1.nats,...]');
  const dir = resolve(positionals[0]);
  const model = subjectToken(requiredString(values, 'model', 'the model name the cluster serves (its subjects), e.g. tiny'));
  const hosts = (stringFlag(values, 'hosts') ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const files = await exportDeployment(dir, model, hosts);
  const lines = [`secure deployment of model ${model} in ${dir} (secrets 0600):`, ...Object.entries(files).map(([what, file]) => `  ${what}: ${file}`)];
  process.stdout.write(lines.join('\n') + '\n');
}
