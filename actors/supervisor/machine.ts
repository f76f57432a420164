// Lifecycle of one supervised child process. The machine tracks the process; the supervisor
// decides, on each exit, whether to restart it (RESTART), leave it stopped (LEAVE) or give up (GIVE_UP).
import { assign, setup } from 'xstate';

export interface Backoff {
  /** Backoff before restart n: min · 2^(n-1) capped at max, times 1 ± randomFactor (Akka's BackoffSupervisor). */
  minBackoffMs: number;
  maxBackoffMs: number;
  randomFactor: number;
}

export const DEFAULT_BACKOFF: Backoff = { minBackoffMs: 50, maxBackoffMs: 2_000, randomFactor: 0.2 };

export function backoffMs(b: Backoff, attempt: number, random = Math.random): number {
  const base = Math.min(b.maxBackoffMs, b.minBackoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (1 + b.randomFactor * (2 * random() - 1))));
}

export type ChildEvent =
  | { type: 'UP' }
  | { type: 'EXIT'; reason: string; normal: boolean }
  | { type: 'RESTART'; attempt: number }
  | { type: 'LEAVE' }
  | { type: 'GIVE_UP' }
  | { type: 'STOP' };

interface ChildContext {
  backoff: Backoff;
  /** The group's recent restarts when this one was decided: the backoff grows with them. */
  attempt: number;
  /** Restarts of this child over its life (the one count of them; the group's intensity window is the supervisor's). */
  restarts: number;
  lastExit?: string;
}

export const childMachine = setup({
  types: { context: {} as ChildContext, events: {} as ChildEvent, input: {} as { backoff: Backoff } },
  actions: {
    spawn: () => {},
    terminate: () => {},
    /** The process is gone: announce it and let the supervisor decide. */
    exited: (_, _params: { reason: string; normal: boolean }) => {},
    announceRestarting: () => {},
    announceFailed: () => {},
  },
  delays: {
    backoff: ({ context }) => backoffMs(context.backoff, context.attempt),
  },
}).createMachine({
  id: 'child',
  context: ({ input }) => ({ backoff: input.backoff, attempt: 0, restarts: 0 }),
  initial: 'starting',
  states: {
    starting: {
      entry: 'spawn',
      on: { UP: 'running', EXIT: 'exited', STOP: 'stopping' },
    },
    running: {
      on: { EXIT: 'exited', STOP: 'stopping' },
    },
    exited: {
      entry: [
        assign({ lastExit: ({ event }) => (event.type === 'EXIT' ? event.reason : undefined) }),
        {
          type: 'exited',
          params: ({ event }) => (event.type === 'EXIT' ? { reason: event.reason, normal: event.normal } : { reason: 'exit', normal: false }),
        },
      ],
      on: {
        RESTART: { target: 'backoff', actions: assign({ attempt: ({ event }) => event.attempt, restarts: ({ context }) => context.restarts + 1 }) },
        LEAVE: 'stopped',
        GIVE_UP: 'failed',
        STOP: 'stopped',
      },
    },
    backoff: {
      entry: 'announceRestarting',
      after: { backoff: 'starting' },
      on: { STOP: 'stopped', GIVE_UP: 'failed' },
    },
    stopping: {
      entry: 'terminate',
      on: { EXIT: 'stopped' },
    },
    stopped: { type: 'final' },
    failed: { type: 'final', entry: 'announceFailed' },
  },
});
