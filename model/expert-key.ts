// The one key of a routed expert, and its one written form `layer:expert` (e.g. `3:5`): the id every actor,
// message, placement record, environment variable and log line uses. Pure: it loads no ONNX Runtime.
import { ModelInputError } from './errors.js';

/** A routed expert: its MoE layer and its index among that layer's experts. */
export interface ExpertKey {
  layer: number;
  expert: number;
}

/** `layer:expert`, e.g. `3:5`. */
export const formatExpertKey = (k: ExpertKey): string => `${k.layer}:${k.expert}`;

const FORM = /^(\d+):(\d+)$/;

/** The key written as `layer:expert`; anything else (a missing side, a sign, a range, extra text) throws ModelInputError. */
export function parseExpertKey(id: string): ExpertKey {
  const m = FORM.exec(id);
  if (!m) throw new ModelInputError(`bad expert key ${JSON.stringify(id)}: use LAYER:EXPERT, e.g. 3:5`);
  return { layer: Number(m[1]), expert: Number(m[2]) };
}
