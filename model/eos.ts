// The ids that end a generation: the tokenizer's end-of-sequence token and config.json's `eos_token_id`
// (one id or a list, as Hugging Face allows), or id 2 — the generated checkpoints' — when neither says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EOS_ID } from './byte-tokenizer.js';
import { CONFIG_FILE } from './checkpoint.js';
import type { Tokenizer } from './tokenizer.js';

export function endOfSequenceIds(dir: string, tokenizer?: Tokenizer): number[] {
  const raw = (JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8')) as { eos_token_id?: unknown }).eos_token_id;
  const fromConfig = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => Number.isInteger(v));
  const ids = [...new Set([...(tokenizer?.eosTokenId !== undefined ? [tokenizer.eosTokenId] : []), ...fromConfig])];
  return ids.length > 0 ? ids : [EOS_ID];
}
