// OTP supervision policy: strategy, restart type, restart intensity, escalation — and the decision on an exit.
import { SupervisionConfigError } from '../protocol/errors.js';
import { DEFAULT_BACKOFF, type Backoff } from './machine.js';

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

/** Why the supervisor itself ended a child, when it did. */
export type ExitIntent = 'restart' | 'retire' | 'give-up';

export interface ExitFacts {
  /** The whole supervisor is stopping. */
  stopping: boolean;
  intent?: ExitIntent;
  groupFailed: boolean;
  /** Exit code 0 and no signal. */
  normal: boolean;
  /** The child's place in its group (start order) and the group's size. */
  index: number;
  groupSize: number;
}

export type ExitDecision =
  | { action: 'stop' | 'leave' | 'give-up' }
  | { action: 'restart'; siblings: number[]; counts: boolean }
  | { action: 'escalate' };

/**
 * OTP's decision on a child's exit. `counts`: the restart is charged to the group's intensity
 * (a sibling restarted by strategy is not charged again). The caller checks the intensity and
 * turns a counted restart past it into an escalation.
 */
export function decideExit(p: Pick<SupervisionPolicy, 'strategy' | 'restart'>, f: ExitFacts): ExitDecision {
  if (f.stopping) return { action: 'stop' };
  if (f.intent === 'retire') return { action: 'leave' };
  if (f.intent === 'give-up' || f.groupFailed) return { action: 'give-up' };
  if (f.intent === 'restart') return { action: 'restart', siblings: [], counts: false };
  if (!shouldRestart(p.restart, f.normal)) return { action: 'leave' };
  return { action: 'restart', siblings: siblingsToRestart(p.strategy, f.groupSize, f.index), counts: true };
}
