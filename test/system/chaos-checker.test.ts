// The chaos checker's rule that a run must have exercised the cluster: a scenario whose fault never happened,
// or under which nothing was served, passes vacuously and must be reported as a violation instead.
import { describe, expect, it } from 'vitest';
import { checkExercised } from '../helpers/chaos/checker.js';
import type { FaultRecord } from '../helpers/chaos/faults.js';
import type { RequestRecord } from '../helpers/chaos/workload.js';

const req = (id: number, start: number, end: number | undefined, outcome: RequestRecord['outcome']): RequestRecord => ({ id, prompt: 0, worker: 0, start, end, outcome });
const fault = (at: number, until?: number): FaultRecord => ({ kind: 'kill -9', target: 'x', at, until });

describe('checkExercised', () => {
  it('passes a run with answered requests in flight during a fault', () => {
    expect(checkExercised([req(0, 100, 300, 'ok'), req(1, 300, 500, 'ok')], [fault(200)])).toEqual([]);
    // a lasting fault counts for the requests that overlap it
    expect(checkExercised([req(0, 100, 150, 'ok'), req(1, 900, 950, 'ok')], [fault(200, 1000)])).toEqual([]);
    // the fault-free phase needs no fault
    expect(checkExercised([req(0, 100, 300, 'ok')])).toEqual([]);
  });

  it('fails a run with no fault injected', () => {
    expect(checkExercised([req(0, 100, 300, 'ok')], [])).toEqual(['no fault was injected']);
  });

  it('fails a run with no request issued, or none completed', () => {
    expect(checkExercised([], [fault(200)])).toContain('no request was issued');
    expect(checkExercised([])).toEqual(['no request was issued']);
    expect(checkExercised([req(0, 100, 300, 'error'), req(1, 100, undefined, undefined)], [fault(200)])).toEqual(['none of the 2 requests completed']);
  });

  it('fails a run whose faults all fell outside the load', () => {
    expect(checkExercised([req(0, 100, 300, 'ok')], [fault(400), fault(50, 90)])).toEqual(['no request was in flight during any of the 2 faults']);
  });
});
