// `eaas placement`: the elastic placement of a model, desired next to actual, the load behind it and the last change.
import { placementView, type PlacementView } from '../../actors/controller/client.js';
import { closeNats, connectNats } from '../transport/connection.js';
import { AUTH_FLAGS, authFromFlags } from './auth-flags.js';
import { servedModel } from './served-model.js';
import { parseFlags, requiredString, stringFlag, type FlagTable } from './flags.js';

export const FLAGS = {
  nats: { type: 'string', arg: 'URL', help: 'the cluster\'s NATS URL (required)' },
  name: { type: 'string', arg: 'MODEL', help: 'the served model to show', default: 'the only one served' },
  json: { type: 'boolean', help: 'print one JSON object' },
  ...AUTH_FLAGS,
} as const satisfies FlagTable;

export async function placementCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const nc = await connectNats(requiredString(values, 'nats', 'the cluster’s NATS URL'), 'eaas-placement', {}, authFromFlags(values));
  try {
    const model = await servedModel(nc, stringFlag(values, 'name'));
    const view = await placementView(nc, model);
    process.stdout.write(values.json ? JSON.stringify(view) + '\n' : formatPlacement(view));
  } finally {
    await closeNats(nc);
  }
}

const ago = (at: number) => `${((Date.now() - at) / 1000).toFixed(1)} s ago`;

export function formatPlacement(v: PlacementView): string {
  const lines: string[] = [`model ${v.model}`];
  const d = v.desired;
  lines.push(d ? `desired: revision ${d.revision}, ${d.actors.length} actors (${d.reason}, ${ago(d.at)}): ${d.detail}` : 'desired: none yet (the supervisors run their static placement, revision 0)');
  for (const a of v.actual) lines.push(`actual: node ${a.node} at revision ${a.revision}, ${a.actors.length} actors${a.stale ? ` (stale: last heard ${ago(a.at)})` : ''}`);
  const c = v.controller;
  if (c) {
    lines.push(`controller: ${c.leader}, last decision ${ago(c.decision.at)}: ${c.decision.action} (${c.decision.reason}) ${c.decision.detail}`);
    const busy = c.observed.meanBusy === null ? 'no busy signal' : `mean busy ${c.observed.meanBusy.toFixed(2)}`;
    // (a record an older controller wrote has no latency)
    const itl = c.observed.itlP99Ms == null ? '' : `, p99 inter-token latency ${Math.round(c.observed.itlP99Ms)} ms`;
    lines.push(`load: window ${c.load.windowMs} ms, ${busy}${itl}, balancedness ${c.observed.balancedness.toFixed(3)}`);
    const l = c.lastChange;
    lines.push(l ? `last change: revision ${l.revision} (${l.reason}, ${ago(l.at)}${l.durationMs === undefined ? ', in progress' : `, carried out in ${(l.durationMs / 1000).toFixed(1)} s`}): ${l.detail}` : 'last change: none');
  } else lines.push('controller: none has decided yet');
  lines.push('', 'INSTANCE             NODE                 DESIRED RUNNING  BUSY EXPERTS');
  for (const a of v.actors) {
    lines.push(`${a.instance.padEnd(20)} ${a.node.padEnd(20)} ${(a.desired ? 'yes' : 'no').padEnd(7)} ${(a.running ? 'yes' : 'no').padEnd(7)} ${a.busy === null ? '    -' : a.busy.toFixed(2).padStart(5)} ${a.experts.join(',')}`);
  }
  lines.push('', 'EXPERT    TOKENS  REPLICAS (desired/running)');
  for (const e of v.experts) lines.push(`${e.id.padEnd(8)} ${String(e.tokens).padStart(7)}  ${e.desiredReplicas}/${e.runningReplicas}`);
  return lines.join('\n') + '\n';
}
