// The supervision flags shared by `up` and `node`: a JSON policy file and a strategy override.
import { readFileSync } from 'node:fs';
import { supervisionPolicy, type SupervisionPolicy } from '../../actors/supervisor/supervision.js';
import { UsageError } from './usage.js';

export const SUPERVISION_FLAGS = {
  supervision: { type: 'string' },
  strategy: { type: 'string' },
} as const;

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
