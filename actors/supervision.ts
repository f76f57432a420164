// OTP supervision policy: strategy, restart type, restart intensity, escalation — and the decision on an exit.
import { DEFAULT_BACKOFF, type Backoff } from './child-machine.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
/** Past the intensity: give the group up and keep serving the rest (report), or exit the node process (exit). */
export type Escalation = 'report' | 'exit';

export interface SupervisionPolicy extends Backoff {
  strategy: Strategy;
  restart: RestartType;
  /** Restarts allowed per group within periodMs (OTP intensity / period). */
  maxRestarts: number;
  periodMs: number;
  escalation: Escalation;
}

export const DEFAULT_SUPERVISION: SupervisionPolicy = {
  strategy: 'one_for_one',
  restart: 'permanent',
  maxRestarts: 5,
  periodMs: 10_000,
  escalation: 'report',
  ...DEFAULT_BACKOFF,
};

export class SupervisionConfigError extends Error {
  override readonly name = 'SupervisionConfigError';
}

const CHOICES: Record<string, readonly string[]> = {
  strategy: ['one_for_one', 'one_for_all', 'rest_for_one'],
  restart: ['permanent', 'transient', 'temporary'],
  escalation: ['report', 'exit'],
};

/** Checks a partial policy (e.g. a parsed JSON file) and fills in the defaults. */
export function supervisionPolicy(raw: unknown, source: string): SupervisionPolicy {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SupervisionConfigError(`${source}: supervision config must be a JSON object`);
  const out: Record<string, unknown> = { ...DEFAULT_SUPERVISION };
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in DEFAULT_SUPERVISION)) throw new SupervisionConfigError(`${source}: unknown supervision key "${key}" (known: ${Object.keys(DEFAULT_SUPERVISION).join(', ')})`);
    const choices = CHOICES[key];
    if (choices && !choices.includes(value as string)) throw new SupervisionConfigError(`${source}: ${key} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    if (!choices && (typeof value !== 'number' || !(value >= 0))) throw new SupervisionConfigError(`${source}: ${key} must be a non-negative number, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  return out as unknown as SupervisionPolicy;
}

/** Restarts of one group within the sliding period. */
export class Intensity {
  private times: number[] = [];

  constructor(private readonly p: Pick<SupervisionPolicy, 'maxRestarts' | 'periodMs'>) {}

  /** Counts a restart at `now`; false when it would exceed maxRestarts within periodMs. */
  allow(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.p.periodMs);
    if (this.times.length >= this.p.maxRestarts) return false;
    this.times.push(now);
    return true;
  }

  get recent(): number {
    return this.times.length;
  }
}

/** Whether a child that exited should come back, by its restart type (OTP semantics). */
export const shouldRestart = (type: RestartType, normal: boolean): boolean => type === 'permanent' || (type === 'transient' && !normal);

/** The siblings a strategy restarts along with the child at `index` of its group (in start order). */
export function siblingsToRestart(strategy: Strategy, groupSize: number, index: number): number[] {
  const all = Array.from({ length: groupSize }, (_, i) => i);
  if (strategy === 'one_for_all') return all.filter((i) => i !== index);
  if (strategy === 'rest_for_one') return all.filter((i) => i > index);
  return [];
}
