// What one generate request may cost, checked before any work is done for it.
import type { MixtralConfig } from '../../model/config.js';
import { BYTE_VOCAB } from '../../model/tokenizer.js';
import { RequestTooLargeError } from '../protocol/errors.js';

/** A generate request larger than this is refused before it is decoded. Env: EAAS_MAX_REQUEST_BYTES. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/** Refuses a request whose encoded size alone is over the bound. */
export function checkRequestBytes(bytes: number, maxBytes: number): void {
  if (bytes > maxBytes) throw new RequestTooLargeError(`generate request of ${bytes} bytes is over the gate's limit of ${maxBytes} (EAAS_MAX_REQUEST_BYTES)`);
}

/**
 * Refuses a text prompt that would tokenize past the model's positions, before tokenizing it:
 * the byte tokenizer makes one token per UTF-8 byte (plus BOS), and a string has at least one byte per code unit.
 */
export function checkTextLength(text: string, config: MixtralConfig): void {
  const room = config.maxPositionEmbeddings - 1;
  if (config.vocabSize >= BYTE_VOCAB && text.length > room) {
    throw new RequestTooLargeError(`the text prompt is ${text.length} characters: it cannot fit the model's ${config.maxPositionEmbeddings} positions`);
  }
}
