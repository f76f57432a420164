// ONNX Runtime sessions on CPU with the options every eaas graph shares.
import * as ort from 'onnxruntime-node';

/** Threads per session; 0 lets ONNX Runtime use every core. */
export const DEFAULT_ORT_THREADS = 0;

export type Session = ort.InferenceSession;

/**
 * `arena` false: no memory arena and no memory pattern, so a session's scratch memory is freed after each run.
 * An arena belongs to its session, grows to the largest batch that session has run, and never shrinks.
 */
export async function createSession(model: Uint8Array, threads = DEFAULT_ORT_THREADS, arena = true): Promise<Session> {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    ...(arena ? {} : { enableCpuMemArena: false, enableMemPattern: false }),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    // many small sessions take turns: idle pool threads must sleep, not spin (measured 2.6-3.3x on bench)
    extra: { session: { 'intra_op.allow_spinning': '0' } },
  });
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** Runs a session and returns its float32 outputs by name. */
export async function runFloat(session: Session, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const out = await session.run(feeds);
  const result: Record<string, Float32Array> = {};
  for (const [name, tensor] of Object.entries(out)) result[name] = tensor.data as Float32Array;
  return result;
}
