import { describe, expect, it } from 'vitest';
import { decideExit, type ExitFacts, type RestartType, type Strategy } from '../../../actors/supervisor/supervision.js';

const permanent = { strategy: 'one_for_one' as Strategy, restart: 'permanent' as RestartType };
/** An unexpected crash of the second child of a group of four, nothing else going on. */
const crash: ExitFacts = { stopping: false, groupFailed: false, normal: false, index: 1, groupSize: 4 };

describe('decideExit', () => {
  it('stops the child when the supervisor is stopping, whatever else holds', () => {
    expect(decideExit(permanent, { ...crash, stopping: true, intent: 'retire', groupFailed: true })).toEqual({ action: 'stop' });
  });

  it('leaves a retired child down, even in a failed group', () => {
    expect(decideExit(permanent, { ...crash, intent: 'retire', groupFailed: true })).toEqual({ action: 'leave' });
  });

  it('gives the child up when the supervisor gave it up or its group failed', () => {
    expect(decideExit(permanent, { ...crash, intent: 'give-up' })).toEqual({ action: 'give-up' });
    expect(decideExit(permanent, { ...crash, groupFailed: true })).toEqual({ action: 'give-up' });
    expect(decideExit(permanent, { ...crash, intent: 'restart', groupFailed: true })).toEqual({ action: 'give-up' });
  });

  it('restarts a child the supervisor restarted itself, alone and without charging the intensity', () => {
    const d = { action: 'restart', siblings: [], counts: false };
    for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as Strategy[]) {
      expect(decideExit({ strategy, restart: 'transient' }, { ...crash, intent: 'restart', normal: true })).toEqual(d);
    }
  });

  it('restarts by restart type: permanent always, transient after a crash only, temporary never', () => {
    const action = (restart: RestartType, normal: boolean) => decideExit({ ...permanent, restart }, { ...crash, normal }).action;
    expect([action('permanent', false), action('permanent', true)]).toEqual(['restart', 'restart']);
    expect([action('transient', false), action('transient', true)]).toEqual(['restart', 'leave']);
    expect([action('temporary', false), action('temporary', true)]).toEqual(['leave', 'leave']);
  });

  it('charges a restart after an exit to the intensity, with the siblings its strategy takes along', () => {
    const restart = (strategy: Strategy) => decideExit({ ...permanent, strategy }, crash);
    expect(restart('one_for_one')).toEqual({ action: 'restart', siblings: [], counts: true });
    expect(restart('one_for_all')).toEqual({ action: 'restart', siblings: [0, 2, 3], counts: true });
    expect(restart('rest_for_one')).toEqual({ action: 'restart', siblings: [2, 3], counts: true });
  });
});
