// A byte-level BPE tokenizer (GPT-2's scheme) trained on the training text, written as the Hugging Face files
// tokenizer.json and tokenizer_config.json that model/tokenizer.ts reads like any other checkpoint's.
import { BYTE_CHAT_TEMPLATE } from '../../model/byte-tokenizer.js';

/** Ids 0-2 as in the generated checkpoints: <pad>, <s>, </s>; then the 256 bytes; then one id per merge. */
export const SPECIAL_TOKENS = ['<pad>', '<s>', '</s>'] as const;

/** GPT-2's pre-tokenizer split (what the ByteLevel pre-tokenizer with use_regex applies). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's printable stand-in for each byte, so that byte-level tokens are readable strings. */
export function byteChars(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  return out;
}

export interface Bpe {
  vocab: Record<string, number>;
  merges: [string, string][];
}

/**
 * Learns merges until the vocabulary has `vocabSize` tokens: each round merges the most frequent adjacent pair
 * of the pre-tokenized words (ties: the pair first seen), updating only the words that hold it.
 */
export function trainBpe(texts: Iterable<string>, vocabSize: number): Bpe {
  const chars = byteChars();
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(GPT2_SPLIT)) {
      const word = [...encoder.encode(m[0])].map((b) => chars[b]).join('');
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const tokens: string[] = [...SPECIAL_TOKENS, ...chars];
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const words = [...counts.entries()].map(([w, count]) => ({ ids: [...w].map((c) => idOf.get(c)!), count }));
  const key = (a: number, b: number) => a * vocabSize + b;
  const pairs = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const add = (a: number, b: number, count: number, w: number) => {
    const k = key(a, b);
    pairs.set(k, (pairs.get(k) ?? 0) + count);
    let s = where.get(k);
    if (!s) where.set(k, (s = new Set()));
    s.add(w);
  };
  words.forEach((w, i) => {
    for (let j = 0; j + 1 < w.ids.length; j++) add(w.ids[j], w.ids[j + 1], w.count, i);
  });
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairs) if (c > bestCount) [best, bestCount] = [k, c];
    if (best < 0) break;
    const a = Math.floor(best / vocabSize);
    const b = best % vocabSize;
    const id = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([tokens[a], tokens[b]]);
    for (const wi of where.get(best)!) {
      const w = words[wi];
      for (let j = 0; j + 1 < w.ids.length; j++) {
        const k = key(w.ids[j], w.ids[j + 1]);
        pairs.set(k, pairs.get(k)! - w.count);
      }
      const next: number[] = [];
      for (let j = 0; j < w.ids.length; j++) {
        if (j + 1 < w.ids.length && w.ids[j] === a && w.ids[j + 1] === b) {
          next.push(id);
          j++;
        } else next.push(w.ids[j]);
      }
      w.ids = next;
      for (let j = 0; j + 1 < w.ids.length; j++) add(w.ids[j], w.ids[j + 1], w.count, wi);
    }
    for (const [k, c] of pairs) {
      if (c <= 0) {
        pairs.delete(k);
        where.delete(k);
      }
    }
  }
  return { vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges };
}

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** tokenizer.json: GPT-2's byte-level BPE, <s> put before every text by the post-processor (as the training saw it). */
export function tokenizerJson(bpe: Bpe): object {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const bos = SPECIAL_TOKENS[1];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => special(i, t)),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [1], tokens: [bos] } },
    },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: bpe.vocab, merges: bpe.merges },
  };
}

/** tokenizer_config.json: the special tokens and Mistral's instruction format (the model was never tuned on it). */
export function tokenizerConfigJson(): object {
  const [pad, bos, eos] = SPECIAL_TOKENS;
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: bos,
    eos_token: eos,
    pad_token: pad,
    add_bos_token: true,
    add_eos_token: false,
    model_max_length: 256,
    chat_template: BYTE_CHAT_TEMPLATE,
  };
}
