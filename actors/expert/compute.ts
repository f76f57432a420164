// One dispatch's ONNX Runtime work: each expert of the message on its rows, back to back, into one reply buffer.
import type { ExpertSet } from '../../model/experts.js';

/** ONNX Runtime threads per expert actor unless EAAS_ORT_THREADS says otherwise: about one actor per core. */
export const DEFAULT_EXPERT_THREADS = 1;

/** What a dispatch needs of an expert set: running one expert on rows. */
export type ExpertRunner = Pick<ExpertSet, 'run'>;

export interface DispatchWork {
  layer: number;
  experts: number[];
  rows: number[];
  x: Float32Array;
}

export interface DispatchResult {
  y: Float32Array;
  /** [start, end] epoch milliseconds of each expert's run, for its span. */
  timings: [number, number][];
}

/**
 * Runs each expert of `w.layer` on its rows of w.x. Every run is its own ONNX Runtime call, started from a
 * fresh event-loop turn (onnxruntime-node's run waits for setImmediate), so NATS traffic and timers are served
 * between the experts of a large dispatch.
 */
export async function computeDispatch(experts: ExpertRunner, hidden: number, w: DispatchWork): Promise<DispatchResult> {
  const y = new Float32Array(w.x.length);
  const timings: [number, number][] = [];
  let offset = 0;
  for (let i = 0; i < w.experts.length; i++) {
    const start = performance.timeOrigin + performance.now();
    const part = w.x.subarray(offset * hidden, (offset + w.rows[i]) * hidden);
    y.set(await experts.run({ layer: w.layer, expert: w.experts[i] }, part), offset * hidden);
    timings.push([start, performance.timeOrigin + performance.now()]);
    offset += w.rows[i];
  }
  return { y, timings };
}
