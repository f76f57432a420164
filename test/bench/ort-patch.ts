// Scratch: force ORT session options for every session created after this call (profiling only).
import * as ort from 'onnxruntime-node';

export function patchOrtSessions(extra: ort.InferenceSession.SessionOptions): void {
  const orig = ort.InferenceSession.create.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<ort.InferenceSession>;
  (ort.InferenceSession as unknown as { create: unknown }).create = (model: unknown, opts: ort.InferenceSession.SessionOptions = {}) =>
    orig(model, { ...opts, ...extra, extra: { ...(opts.extra ?? {}), ...(extra.extra ?? {}) } });
}
