// `eaas status`: nodes, actors, hosted experts, replicas and requests served, from NATS discovery.
import { clusterStatus } from '../../actors/protocol/status.js';
import { closeNats, connectNats } from '../transport/connection.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { parseFlags, requiredString, type FlagTable } from './flags.js';

export const FLAGS = {
  nats: { type: 'string', arg: 'URL', help: 'the cluster\'s NATS URL (required)' },
  json: { type: 'boolean', help: 'print one JSON object' },
  ...AUTH_FLAGS,
} as const satisfies FlagTable;

export async function statusCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const nc = await connectNats(requiredString(values, 'nats', 'the cluster’s NATS URL'), 'eaas-status', {}, authFromFlags(values));
  try {
    const s = await clusterStatus(nc);
    if (values.json) {
      process.stdout.write(JSON.stringify(s) + '\n');
      return;
    }
    const lines = [`nodes: ${s.nodes.join(', ') || '(none)'}`, ''];
    lines.push('SERVICE          MODEL      NODE                 INSTANCE             REQUESTS ERRORS EXPERTS');
    for (const a of s.actors) {
      lines.push(
        `${a.service.padEnd(16)} ${a.model.padEnd(10)} ${a.node.padEnd(20)} ${(a.instance ?? '-').padEnd(20)} ${String(a.requests).padStart(8)} ${String(a.errors).padStart(6)} ${a.experts.join(',') || '-'}`,
      );
    }
    const counts = Object.values(s.replicas);
    if (counts.length > 0) lines.push('', `experts: ${counts.length}, replicas per expert: min ${Math.min(...counts)}, max ${Math.max(...counts)}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await closeNats(nc);
  }
}
