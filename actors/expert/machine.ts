// Lifecycle of an expert actor: starting -> loading -> ready -> draining -> stopped, or failed.
import { setup } from 'xstate';

export const expertMachine = setup({
  types: {
    events: {} as
      | { type: 'CONNECTED' }
      | { type: 'LOADED' }
      | { type: 'DRAIN' }
      | { type: 'DRAINED' }
      | { type: 'FAIL'; reason: string },
  },
}).createMachine({
  id: 'expert',
  initial: 'starting',
  states: {
    starting: { on: { CONNECTED: 'loading', FAIL: 'failed', DRAIN: 'stopped' } },
    loading: { on: { LOADED: 'ready', FAIL: 'failed', DRAIN: 'stopped' } },
    ready: { on: { DRAIN: 'draining', FAIL: 'failed' } },
    draining: { on: { DRAINED: 'stopped', FAIL: 'failed' } },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
