// Benchmark-only preview of a proposed fix: ONNX Runtime sessions whose intra-op threads do not spin.
// Every session has its own intra-op thread pool; by default its workers busy-wait after each run,
// stealing the cores the next session (or another process) needs. This patches session creation
// in this process only, for sessions created afterwards; the product code is unchanged.
import * as ort from 'onnxruntime-node';

/** Session config entries (keys under "session.") the preview adds. */
export const NO_SPIN = { 'intra_op.allow_spinning': '0' };

const added: Record<string, string> = {};
let patched = false;

/** Adds session config entries (keys under "session.", e.g. NO_SPIN) to every session created from now on. */
export function patchOrtSessionConfig(entries: Record<string, string>): void {
  Object.assign(added, entries);
  if (patched) return;
  patched = true;
  type Create = (model: unknown, opts?: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  const session = ort.InferenceSession as unknown as { create: Create };
  const create = session.create.bind(ort.InferenceSession);
  session.create = (model, opts = {}) => create(model, { ...opts, extra: { ...opts.extra, session: { ...(opts.extra?.session as object), ...added } } });
}

export function disableOrtSpinning(): void {
  patchOrtSessionConfig(NO_SPIN);
}
