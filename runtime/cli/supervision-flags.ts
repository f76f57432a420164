// The supervision flags shared by `up` and `node`: a JSON policy file and a strategy override.
import { readFileSync } from 'node:fs';
import { supervisionPolicy, type SupervisionPolicy } from '../../actors/supervisor/supervision.js';
import type { FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const SUPERVISION_FLAGS = {
  supervision: { type: 'string', arg: 'FILE', help: 'a JSON supervision policy, as README "Supervision" describes', default: 'the built-in policy' },
  strategy: { type: 'string', arg: 'S', help: 'one_for_one, one_for_all or rest_for_one: overrides the policy\'s strategy', default: 'the policy\'s, one_for_one' },
} as const satisfies FlagTable;

export function supervisionFromFlags(values: Record<string, string | boolean | undefined>): SupervisionPolicy {
  const file = values.supervision;
  let raw: Record<string, unknown> = {};
  if (typeof file === 'string') {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`--supervision ${file}: ${(err as Error).message.split('\n')[0]} (expected a JSON file, see README "Supervision")`);
    }
  }
  if (typeof values.strategy === 'string') raw = { ...raw, strategy: values.strategy };
  try {
    return supervisionPolicy(raw, typeof file === 'string' ? file : '--strategy');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Exits the node process when a group escalates with the `exit` policy: its own supervisor (systemd, k8s) takes over. */
export function exitOnEscalation(stop: () => Promise<void>): (reason: string) => void {
  return (reason) => {
    process.stderr.write(`eaas: escalation: ${reason}; exiting\n`);
    void stop().finally(() => process.exit(3));
  };
}
