// Tokenizers from Hugging Face files: the byte tokenizer generated checkpoints get, hand-written tokenizers of
// other kinds (byte-level BPE with merges, WordPiece), chat templates, streaming detokenization, broken files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYTE_VOCAB } from '../../model/byte-tokenizer.js';
import { ChatTemplateError, CheckpointError, NoChatTemplateError, NoTokenizerError } from '../../model/errors.js';
import { initCheckpoint } from '../../model/init.js';
import { TextStream } from '../../model/text-stream.js';
import { requireTokenizer, Tokenizer } from '../../model/tokenizer.js';

let root: string;
let generatedDir: string;
let generated: Tokenizer;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'eaas-tokenizer-'));
  generatedDir = path.join(root, 'tiny');
  initCheckpoint(generatedDir, { preset: 'tiny', seed: 1 });
  generated = Tokenizer.load(generatedDir)!;
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The byte tokenizer as it was before tokenizer.json: BOS, then each UTF-8 byte b as id b + 3. */
const oldByteIds = (text: string): number[] => [1, ...Array.from(new TextEncoder().encode(text), (b) => b + 3)];

/** A directory holding the given files (objects are written as JSON). */
function checkpointDir(name: string, files: Record<string, unknown>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** Pushes ids through a TextStream one by one; returns every delta, the flush last. */
function stream(tokenizer: Tokenizer, ids: number[]): string[] {
  const s = new TextStream(tokenizer);
  return [...ids.map((id) => s.push(id)), s.flush()];
}

// mulberry32: the same pseudo-random cases every run
function random(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

const TEXTS = ['hi', 'Hello, world!', 'héllo wörld', '日本語のテキスト', 'emoji 😀👍🏽 and € signs', ' two  spaces\tand\nnewlines ', 'a . b , c ?', ''];

describe('the tokenizer generated checkpoints get', () => {
  it('is written as tokenizer.json and tokenizer_config.json with a BPE byte-fallback model', () => {
    const json = JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer.json'), 'utf8'));
    expect(json.model).toMatchObject({ type: 'BPE', byte_fallback: true, merges: [] });
    expect(Object.keys(json.model.vocab)).toHaveLength(BYTE_VOCAB);
    expect(json.model.vocab['<0x00>']).toBe(3);
    expect(json.model.vocab['<0xFF>']).toBe(258);
    const config = JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer_config.json'), 'utf8'));
    expect(config).toMatchObject({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', add_bos_token: true, model_max_length: 2048 });
    expect(typeof config.chat_template).toBe('string');
  });

  it('gives exactly the ids of the old byte tokenizer, for ASCII and multi-byte UTF-8 text', () => {
    expect(generated.encode('hi')).toEqual([1, 'h'.charCodeAt(0) + 3, 'i'.charCodeAt(0) + 3]);
    for (const text of TEXTS) expect(generated.encode(text), text).toEqual(oldByteIds(text));
    expect(generated.encode('日本', { addSpecialTokens: false })).toEqual(oldByteIds('日本').slice(1));
  });

  it('decodes what it encodes, with or without the special tokens', () => {
    for (const text of TEXTS) {
      expect(generated.decode(generated.encode(text), { skipSpecialTokens: true })).toBe(text);
      expect(generated.decode(generated.encode(text))).toBe(`<s>${text}`);
    }
    expect(generated.decode([72 + 3, 2, 0], { skipSpecialTokens: true })).toBe('H');
  });

  it('names its special tokens', () => {
    expect([generated.padTokenId, generated.bosTokenId, generated.eosTokenId, generated.unkTokenId]).toEqual([0, 1, 2, undefined]);
    expect([...generated.specialTokenIds].sort()).toEqual([0, 1, 2]);
  });

  it('skips ids past its vocabulary (rows of the model no token names) and decodes nothing to nothing', () => {
    expect(generated.decode([BYTE_VOCAB, 'o'.charCodeAt(0) + 3, 511, 'k'.charCodeAt(0) + 3])).toBe('ok');
    expect(generated.decode([])).toBe('');
    expect(generated.decode([511])).toBe('');
  });

  it('writes the same bytes for every checkpoint, and none for a vocabulary too small for bytes', () => {
    const again = path.join(root, 'again');
    initCheckpoint(again, { preset: 'tiny', seed: 2 });
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      expect(fs.readFileSync(path.join(again, file)).equals(fs.readFileSync(path.join(generatedDir, file))), file).toBe(true);
    }
    const small = path.join(root, 'small-vocab');
    initCheckpoint(small, { preset: 'tiny', config: { vocabSize: BYTE_VOCAB - 1 } });
    expect(fs.readdirSync(small).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(Tokenizer.load(small)).toBeUndefined();
  });

  it('bounds the tokens of a text from below without tokenizing it', () => {
    for (const text of [...TEXTS, 'x'.repeat(10_000), '<pad>'.repeat(100), '😀'.repeat(300)]) {
      expect(generated.minTokensOf(text), text.slice(0, 20)).toBeLessThanOrEqual(generated.encode(text, { addSpecialTokens: false }).length);
    }
    // a prompt of 5 characters per position cannot fit, whatever its characters (the longest token, <pad>, has 5)
    expect(generated.minTokensOf('x'.repeat(5 * 2048 + 1))).toBeGreaterThan(2048);
  });
});

describe('the chat template of generated checkpoints', () => {
  const conversation = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello' },
    { role: 'user', content: 'Bye' },
  ];

  it('renders a two-turn conversation in the [INST] format, ending where the assistant speaks', () => {
    const prompt = generated.applyChatTemplate(conversation, { addGenerationPrompt: true });
    expect(prompt).toBe('<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]');
    // the format's generation prompt is its [/INST]: asking for one adds nothing
    expect(generated.applyChatTemplate(conversation, { addGenerationPrompt: false })).toBe(prompt);
    // encoded without special tokens, the template's <s> and </s> are the BOS and EOS ids, not their bytes
    const ids = generated.encode(prompt, { addSpecialTokens: false });
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1 || id === 2)).toEqual([1, 2]);
    expect(generated.decode(ids)).toBe(prompt);
  });

  it('puts a system message before the first user message', () => {
    const prompt = generated.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...conversation], { addGenerationPrompt: true });
    expect(prompt).toBe('<s>[INST] Be brief.\n\nHi [/INST]Hello</s>[INST] Bye [/INST]');
  });

  it('refuses roles out of turn with the reason its template gives', () => {
    const err = thrown(() => generated.applyChatTemplate([{ role: 'assistant', content: 'first?' }], { addGenerationPrompt: true }));
    expect(err).toBeInstanceOf(ChatTemplateError);
    expect(err.message).toMatch(/roles must alternate/);
    expect(thrown(() => generated.applyChatTemplate([{ role: 'user', content: 'a' }, { role: 'tool', content: 'b' }], { addGenerationPrompt: true })).message).toMatch(
      /only system, user and assistant/,
    );
  });
});

describe('streaming text token by token', () => {
  it('holds back a character split over byte tokens until its last byte', () => {
    const ids = generated.encode('a€😀', { addSpecialTokens: false });
    const deltas = stream(generated, ids);
    // 'a', then € after its 3rd byte, then 😀 after its 4th
    expect(deltas).toEqual(['a', '', '', '€', '', '', '', '😀', '']);
  });

  it('never emits U+FFFD for split characters, and its deltas add up to the full decode', () => {
    const next = random(11);
    const alphabet = ['a', ' ', 'é', '€', '日', '😀', '👍🏽', '\n'];
    for (let round = 0; round < 50; round++) {
      const text = Array.from({ length: 1 + Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      // special tokens and ids past the vocabulary in between, as a model may generate them
      const ids = generated.encode(text).flatMap((id) => (next() < 0.1 ? [id, next() < 0.5 ? 2 : 400] : [id]));
      const deltas = stream(generated, ids);
      expect(deltas.join(''), text).toBe(generated.decode(ids, { skipSpecialTokens: true }));
      expect(deltas.join('')).toBe(text);
      expect(deltas.some((d) => d.includes('\uFFFD')), text).toBe(false);
    }
  });

  it('shows a character that never completed as U+FFFD when flushed', () => {
    const euro = generated.encode('€', { addSpecialTokens: false });
    const s = new TextStream(generated);
    expect([s.push(euro[0]), s.push(euro[1])]).toEqual(['', '']);
    expect(s.flush()).toBe('\uFFFD');
  });
});

describe('checkpoints without a usable tokenizer', () => {
  it('load as undefined without tokenizer.json, and a text prompt then asks for token ids', () => {
    const dir = checkpointDir('no-tokenizer', { 'config.json': {} });
    expect(Tokenizer.load(dir)).toBeUndefined();
    const err = thrown(() => requireTokenizer(Tokenizer.load(dir)));
    expect(err).toBeInstanceOf(NoTokenizerError);
    expect(err.message).toBe('this checkpoint has no tokenizer.json: give token ids');
  });

  const generatedJson = () => JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer.json'), 'utf8'));
  const generatedConfig = () => JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer_config.json'), 'utf8'));
  const cases: [string, () => Record<string, unknown>, string, RegExp][] = [
    ['tokenizer.json that is not JSON', () => ({ 'tokenizer.json': '{"model": ' }), 'tokenizer.json', /tokenizer\.json is not valid JSON/],
    ['tokenizer.json that is not an object', () => ({ 'tokenizer.json': '[1, 2]' }), 'tokenizer.json', /must be a JSON object/],
    ['tokenizer.json of an unknown model', () => ({ 'tokenizer.json': { ...generatedJson(), model: { type: 'Magic' } } }), 'tokenizer.json', /not a tokenizer this runtime can read/],
    ['tokenizer.json without a decoder', () => ({ 'tokenizer.json': { model: generatedJson().model } }), 'tokenizer.json', /not a tokenizer this runtime can read.*decoder/],
    ['tokenizer_config.json that is not JSON', () => ({ 'tokenizer.json': generatedJson(), 'tokenizer_config.json': '{' }), 'tokenizer_config.json', /tokenizer_config\.json is not valid JSON/],
    [
      'an eos_token the vocabulary lacks',
      () => ({ 'tokenizer.json': generatedJson(), 'tokenizer_config.json': { ...generatedConfig(), eos_token: '<|end|>' } }),
      'tokenizer_config.json',
      /eos_token "<\|end\|>" is not a token of tokenizer\.json/,
    ],
    [
      'a chat template that does not parse',
      () => ({ 'tokenizer.json': generatedJson(), 'tokenizer_config.json': { ...generatedConfig(), chat_template: '{% for m in messages %}{{ m' } }),
      'tokenizer_config.json',
      /chat template is not a valid Jinja template/,
    ],
    [
      'a chat_template.jinja that does not parse',
      () => ({ 'tokenizer.json': generatedJson(), 'chat_template.jinja': '{% if %}' }),
      'chat_template.jinja',
      /chat template is not a valid Jinja template/,
    ],
  ];

  it.each(cases)('fail to load with an error naming the file: %s', (name, files, file, message) => {
    const dir = checkpointDir(name.replace(/\W+/g, '-'), files());
    const err = thrown(() => Tokenizer.load(dir));
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).file).toBe(path.join(dir, file));
    expect(err.message).toMatch(message);
  });

  it('take the chat template from chat_template.jinja over the config, or the config\'s template named "default"', () => {
    const json = fs.readFileSync(path.join(generatedDir, 'tokenizer.json'), 'utf8');
    const config = JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer_config.json'), 'utf8'));
    const hi = [{ role: 'user', content: 'hi' }];
    const separate = checkpointDir('separate-template', { 'tokenizer.json': json, 'tokenizer_config.json': config, 'chat_template.jinja': '{{ bos_token }}jinja file: {{ messages[0].content }}' });
    expect(Tokenizer.load(separate)!.applyChatTemplate(hi, { addGenerationPrompt: true })).toBe('<s>jinja file: hi');
    const named = checkpointDir('named-templates', {
      'tokenizer.json': json,
      'tokenizer_config.json': { ...config, chat_template: [{ name: 'tool_use', template: 'tools' }, { name: 'default', template: 'default: {{ messages[0].content }}' }] },
    });
    expect(Tokenizer.load(named)!.applyChatTemplate(hi, { addGenerationPrompt: true })).toBe('default: hi');
  });

  it('refuse chat messages when the checkpoint has no chat template', () => {
    const { chat_template: _, ...config } = JSON.parse(fs.readFileSync(path.join(generatedDir, 'tokenizer_config.json'), 'utf8'));
    const dir = checkpointDir('no-template', { 'tokenizer.json': fs.readFileSync(path.join(generatedDir, 'tokenizer.json'), 'utf8'), 'tokenizer_config.json': config });
    const tokenizer = Tokenizer.load(dir)!;
    expect(tokenizer.encode('ok')).toEqual(oldByteIds('ok'));
    const err = thrown(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }));
    expect(err).toBeInstanceOf(NoChatTemplateError);
    expect(err.message).toMatch(/no chat template/);
  });
});

// GPT-2's byte-to-unicode map sends printable ASCII to itself and the space to 'Ġ'.
const GPT2_VOCAB = ['<|endoftext|>', 'h', 'e', 'l', 'o', 'Ġ', 'w', 'r', 'd', 'he', 'll', 'hell', 'hello', 'Ġw', 'or', 'Ġwor', 'ld', 'Ġworld', 'ĊĊ', 'Ċ'];
const byteLevelBpe = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [
    { id: 0, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: 20, content: '<|im_start|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: 21, content: '<|im_end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: '',
    end_of_word_suffix: '',
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab: Object.fromEntries(GPT2_VOCAB.map((t, i) => [t, i])),
    // ranks in order: 'l d' comes before 'Ġwor ld' can apply
    merges: ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld', 'Ċ Ċ'],
  },
};
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('hand-written tokenizers of other kinds', () => {
  it('reads a byte-level BPE with merges (GPT-2 style) and its ChatML template', () => {
    const dir = checkpointDir('byte-level-bpe', {
      'tokenizer.json': byteLevelBpe,
      'tokenizer_config.json': { eos_token: '<|im_end|>', pad_token: '<|endoftext|>', bos_token: null, chat_template: CHATML, clean_up_tokenization_spaces: false },
    });
    const t = Tokenizer.load(dir)!;
    expect(t.encode('hello world')).toEqual([12, 17]);
    expect(t.encode('hold')).toEqual([1, 4, 16]);
    expect(t.encode('hello\n\n\nworld')).toEqual([12, 18, 19, 6, 14, 16]);
    expect(t.decode([12, 17])).toBe('hello world');
    expect(t.decode([12, 21, 17])).toBe('hello<|im_end|> world');
    expect(t.decode([12, 21, 17], { skipSpecialTokens: true })).toBe('hello world');
    expect([t.bosTokenId, t.eosTokenId, t.padTokenId]).toEqual([undefined, 21, 0]);
    expect(t.encode('<|im_start|>hello')).toEqual([20, 12]);

    const chat = [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'world' },
    ];
    expect(t.applyChatTemplate(chat, { addGenerationPrompt: true })).toBe('<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nworld<|im_end|>\n<|im_start|>assistant\n');
    expect(t.applyChatTemplate(chat, { addGenerationPrompt: false })).toBe('<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nworld<|im_end|>\n');

    const ids = [12, 17, 21, 12];
    expect(stream(t, ids).join('')).toBe(t.decode(ids, { skipSpecialTokens: true }));
    for (const text of ['hello world', 'hold', 'hello world '.repeat(30)]) expect(t.minTokensOf(text)).toBeLessThanOrEqual(t.encode(text).length);
    expect(t.minTokensOf('hello world '.repeat(30))).toBeGreaterThan(0);
  });

  it('takes add_bos_token and add_eos_token of tokenizer_config.json over the post-processor', () => {
    const dir = checkpointDir('bos-by-config', {
      'tokenizer.json': byteLevelBpe,
      'tokenizer_config.json': { bos_token: '<|im_start|>', eos_token: { content: '<|im_end|>', special: true }, add_bos_token: true, add_eos_token: true },
    });
    const t = Tokenizer.load(dir)!;
    expect(t.encode('hello')).toEqual([20, 12, 21]);
    expect(t.encode('hello', { addSpecialTokens: false })).toEqual([12]);
  });

  it('reads a WordPiece tokenizer (BERT style) with its normalizer, pre-tokenizer and post-processor', () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world', 'un', '##aff', '##able', ','];
    const dir = checkpointDir('wordpiece', {
      'tokenizer.json': {
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
      },
      'tokenizer_config.json': { unk_token: '[UNK]', pad_token: '[PAD]', cls_token: '[CLS]', sep_token: '[SEP]', do_lower_case: true },
    });
    const t = Tokenizer.load(dir)!;
    expect(t.encode('Hello, unaffable   WORLD')).toEqual([2, 4, 9, 6, 7, 8, 5, 3]);
    expect(t.encode('hello xyz')).toEqual([2, 4, 1, 3]);
    expect(t.decode([2, 4, 9, 6, 7, 8, 5, 3], { skipSpecialTokens: true })).toBe('hello, unaffable world');
    expect(t.unkTokenId).toBe(1);
    // the word pieces join across the stream's windows as in one decode
    const ids = [4, 6, 7, 8, 5, 6, 7];
    expect(stream(t, ids).join('')).toBe(t.decode(ids, { cleanUpSpaces: false }));
    // whitespace vanishes in the pre-tokenizer: no lower bound holds but 0
    expect(t.minTokensOf(' '.repeat(10_000))).toBe(0);
    expect(t.encode(' '.repeat(10_000))).toEqual([2, 3]);
  });
});
