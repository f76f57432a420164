// The tokenizer of generated checkpoints, as the Hugging Face files tokenizer.json and tokenizer_config.json:
// ids 0-2 are <pad>, <s>, </s>; byte b is the token <0xBB> with id b + 3.

export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
const BYTE_OFFSET = 3;
/** Ids the byte tokenizer uses; a model with a smaller vocabulary gets no tokenizer files. */
export const BYTE_VOCAB = BYTE_OFFSET + 256;

const PAD = '<pad>';
const BOS = '<s>';
const EOS = '</s>';

/** `<0x41>`: how Llama's tokenizer.json spells a byte, and the only spelling the ByteFallback decoder reads. */
const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

const specialToken = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/**
 * A BPE model with byte fallback and no merges: every character falls back to its UTF-8 bytes, as in Llama's
 * tokenizer for characters outside its vocabulary. No normalizer and no pre-tokenizer, so the text's bytes
 * are the tokens, spaces included; the post-processor adds <s>. The vocabulary ends at id 258 however many
 * rows the model has: tokenizer.json needs no token per row (Qwen2's model has more rows than its tokenizer
 * has tokens), decoding skips ids without a token, and filler tokens would be matched in text that spells them.
 */
export function byteTokenizerJson(): object {
  const vocab: Record<string, number> = { [PAD]: PAD_ID, [BOS]: BOS_ID, [EOS]: EOS_ID };
  for (let b = 0; b < 256; b++) vocab[byteToken(b)] = b + BYTE_OFFSET;
  const bos = (typeId: number) => ({ SpecialToken: { id: BOS, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [specialToken(PAD_ID, PAD), specialToken(BOS_ID, BOS), specialToken(EOS_ID, EOS)],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos(0), sequence('A', 0)],
      pair: [bos(0), sequence('A', 0), bos(1), sequence('B', 1)],
      special_tokens: { [BOS]: { id: BOS, ids: [BOS_ID], tokens: [BOS] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

/**
 * Mistral's instruction format: `<s>[INST] user [/INST]answer</s>[INST] user [/INST]`, a system message put
 * before the first user message. The prompt already ends where the assistant speaks, so
 * add_generation_prompt adds nothing (as in Mistral's own templates); an answer ends with </s>, the id the
 * engine stops at.
 */
export const BYTE_CHAT_TEMPLATE = [
  "{%- if messages and messages[0]['role'] == 'system' -%}",
  "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}",
  '{%- else -%}',
  '{%- set system = none -%}{%- set turns = messages -%}',
  '{%- endif -%}',
  '{{- bos_token -}}',
  '{%- for message in turns -%}',
  "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}",
  "{{- raise_exception('conversation roles must alternate user, assistant, user, ... after an optional system message') -}}",
  '{%- endif -%}',
  "{%- if message['role'] == 'user' -%}",
  "{{- '[INST] ' + (system + '\\n\\n' if loop.first and system is not none else '') + message['content'] + ' [/INST]' -}}",
  "{%- elif message['role'] == 'assistant' -%}",
  "{{- message['content'] + eos_token -}}",
  '{%- else -%}',
  "{{- raise_exception('only system, user and assistant roles are supported') -}}",
  '{%- endif -%}',
  '{%- endfor -%}',
].join('\n');

/** tokenizer_config.json: the special tokens, BOS added, no EOS, no cleanup of spaces on decode (it would not round-trip). */
export function byteTokenizerConfig(maxPositions: number): object {
  const decoderEntry = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: { [PAD_ID]: decoderEntry(PAD), [BOS_ID]: decoderEntry(BOS), [EOS_ID]: decoderEntry(EOS) },
    bos_token: BOS,
    eos_token: EOS,
    pad_token: PAD,
    chat_template: BYTE_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: maxPositions,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}
