// Lifecycle of one supervised child: starting -> running -> crashed -> backoff -> starting ..., failed past the restart limit.
import { assign, setup } from 'xstate';

export interface RestartPolicy {
  /** Restarts allowed within `periodMs` before the supervisor gives the child up (OTP intensity). */
  maxRestarts: number;
  periodMs: number;
  /** Backoff between restarts: min · 2^n capped at max, times 1 ± randomFactor (Akka's BackoffSupervisor). */
  minBackoffMs: number;
  maxBackoffMs: number;
  randomFactor: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxRestarts: 5,
  periodMs: 10_000,
  minBackoffMs: 50,
  maxBackoffMs: 2_000,
  randomFactor: 0.2,
};

export function backoffMs(p: RestartPolicy, restartsInPeriod: number, random = Math.random): number {
  const base = Math.min(p.maxBackoffMs, p.minBackoffMs * 2 ** Math.max(0, restartsInPeriod - 1));
  return Math.round(base * (1 + p.randomFactor * (2 * random() - 1)));
}

interface ChildContext {
  policy: RestartPolicy;
  /** Times of the restarts within the current period. */
  restarts: number[];
  lastExit?: string;
}

export type ChildEvent = { type: 'UP' } | { type: 'EXIT'; reason: string } | { type: 'STOP' };

export const childMachine = setup({
  types: { context: {} as ChildContext, events: {} as ChildEvent, input: {} as { policy: RestartPolicy } },
  actions: {
    spawn: () => {},
    terminate: () => {},
    announceDown: (_, _params: { reason: string }) => {},
    announceRestarting: () => {},
    announceFailed: () => {},
  },
  guards: {
    tooManyRestarts: ({ context }) => {
      const now = Date.now();
      return context.restarts.filter((t) => now - t < context.policy.periodMs).length >= context.policy.maxRestarts;
    },
  },
  delays: {
    backoff: ({ context }) => backoffMs(context.policy, context.restarts.length),
  },
}).createMachine({
  id: 'child',
  context: ({ input }) => ({ policy: input.policy, restarts: [] }),
  initial: 'starting',
  on: { STOP: '.stopping' },
  states: {
    starting: {
      entry: 'spawn',
      on: { UP: 'running', EXIT: 'crashed' },
    },
    running: {
      on: { EXIT: 'crashed' },
    },
    crashed: {
      entry: [
        assign({ lastExit: ({ event }) => (event.type === 'EXIT' ? event.reason : undefined) }),
        { type: 'announceDown', params: ({ event }) => ({ reason: event.type === 'EXIT' ? event.reason : 'exit' }) },
      ],
      always: [{ guard: 'tooManyRestarts', target: 'failed' }, { target: 'backoff' }],
    },
    backoff: {
      entry: [
        assign({ restarts: ({ context }) => [...context.restarts.filter((t) => Date.now() - t < context.policy.periodMs), Date.now()] }),
        'announceRestarting',
      ],
      after: { backoff: 'starting' },
    },
    stopping: {
      entry: 'terminate',
      on: { EXIT: 'stopped', UP: undefined },
    },
    stopped: { type: 'final' },
    failed: { type: 'final', entry: 'announceFailed' },
  },
});
