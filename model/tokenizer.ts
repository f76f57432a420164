// The byte-level tokenizer of generated checkpoints: ids 0-2 are special, byte b is id b + 3.
import { ModelInputError } from './errors.js';

export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
const BYTE_OFFSET = 3;
export const BYTE_VOCAB = BYTE_OFFSET + 256;

export function encodeText(text: string, vocabSize: number): number[] {
  if (vocabSize < BYTE_VOCAB) {
    throw new ModelInputError(`--prompt needs a vocabulary of at least ${BYTE_VOCAB} ids for the byte tokenizer (this one has ${vocabSize}); use --prompt-ids`);
  }
  return [BOS_ID, ...Array.from(new TextEncoder().encode(text), (b) => b + BYTE_OFFSET)];
}

/** Decodes byte ids to text; special and out-of-byte-range ids are skipped. */
export function decodeText(ids: number[]): string {
  const bytes = ids.filter((id) => id >= BYTE_OFFSET && id < BYTE_VOCAB).map((id) => id - BYTE_OFFSET);
  return new TextDecoder().decode(new Uint8Array(bytes));
}
