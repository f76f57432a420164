// What one generate request may cost, checked before any work is done for it.
import type { ModelConfig } from '../../model/config.js';
import type { Tokenizer } from '../../model/tokenizer.js';
import { RequestTooLargeError } from '../protocol/errors.js';

/** A generate request larger than this is refused before it is decoded. Env: EAAS_MAX_REQUEST_BYTES. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/** Sequences a gate holds (waiting or running) past which it refuses new requests (429). Env: EAAS_MAX_QUEUED. */
export const DEFAULT_MAX_QUEUED = 1024;

/** Refuses a request whose encoded size alone is over the bound. */
export function checkRequestBytes(bytes: number, maxBytes: number): void {
  if (bytes > maxBytes) throw new RequestTooLargeError(`generate request of ${bytes} bytes is over the gate's limit of ${maxBytes} (EAAS_MAX_REQUEST_BYTES)`);
}

/**
 * Refuses a text prompt that cannot fit the model's positions before tokenizing it: the tokenizer bounds from
 * the text's length the fewest tokens it can make; one position is left for the first generated token.
 */
export function checkTextLength(text: string, tokenizer: Tokenizer, config: ModelConfig): void {
  const least = tokenizer.minTokensOf(text);
  if (least > config.maxPositionEmbeddings - 1) {
    throw new RequestTooLargeError(`the text prompt is ${text.length} characters, at least ${least} tokens: it cannot fit the model's ${config.maxPositionEmbeddings} positions`);
  }
}
