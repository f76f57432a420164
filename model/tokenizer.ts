// A checkpoint's tokenizer: tokenizer.json (the Hugging Face fast tokenizer format) read with
// @huggingface/tokenizers, the special tokens of tokenizer_config.json, and its chat template rendered with
// @huggingface/jinja.
import fs from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplateError, CheckpointError, NoChatTemplateError, NoTokenizerError } from './errors.js';
import { longestTokenSpan, minTokensFor } from './token-bound.js';


export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
/** Where transformers saves a chat template apart from tokenizer_config.json; it wins over the config's, as there. */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

export interface ChatMessage {
  role: string;
  content: string;
}

type Json = Record<string, unknown>;
type SpecialTokenName = 'bos_token' | 'eos_token' | 'pad_token' | 'unk_token';
const SPECIAL_TOKEN_NAMES: SpecialTokenName[] = ['bos_token', 'eos_token', 'pad_token', 'unk_token'];

/** Encodes and decodes text as the checkpoint's model was trained to see it, and renders chats into prompts. */
export class Tokenizer {
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  /** Every special token's id (added tokens marked special, additional_special_tokens). */
  readonly specialTokenIds: ReadonlySet<number>;

  private constructor(
    private readonly hf: HfTokenizer,
    /** The special tokens' strings, as the chat template sees them. */
    private readonly specialTokens: Partial<Record<SpecialTokenName, string>>,
    /** tokenizer_config.json's add_bos_token / add_eos_token when it sets them; otherwise tokenizer.json's post-processor decides. */
    private readonly adds: { bos?: boolean; eos?: boolean },
    private readonly chatTemplate: Template | undefined,
    /** Most code units of text one token stands for (see token-bound.ts). */
    private readonly tokenSpan: number,
    additionalSpecialTokens: readonly string[],
  ) {
    const id = (name: SpecialTokenName) => (specialTokens[name] === undefined ? undefined : hf.token_to_id(specialTokens[name]));
    this.bosTokenId = id('bos_token');
    this.eosTokenId = id('eos_token');
    this.padTokenId = id('pad_token');
    this.unkTokenId = id('unk_token');
    const special = [...hf.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([tokenId]) => tokenId);
    const named = [this.bosTokenId, this.eosTokenId, this.padTokenId, this.unkTokenId, ...additionalSpecialTokens.map((t) => hf.token_to_id(t))];
    for (const tokenId of named) if (tokenId !== undefined) special.push(tokenId);
    this.specialTokenIds = new Set(special);
  }

  /**
   * Reads the tokenizer of a checkpoint directory: undefined when it has no tokenizer.json (it then takes token
   * ids only); a CheckpointError naming the file when a file is there but cannot be used.
   */
  static load(dir: string): Tokenizer | undefined {
    const file = path.join(dir, TOKENIZER_FILE);
    if (!fs.existsSync(file)) return undefined;
    const json = readJsonObject(file);
    const configFile = path.join(dir, TOKENIZER_CONFIG_FILE);
    // a tokenizer.json alone is a complete tokenizer; only special token names and the chat template are missing
    const config = fs.existsSync(configFile) ? readJsonObject(configFile) : {};
    const specialTokens: Partial<Record<SpecialTokenName, string>> = {};
    for (const name of SPECIAL_TOKEN_NAMES) {
      const content = tokenContent(config[name], name, configFile);
      if (content !== undefined) specialTokens[name] = content;
    }
    const additional = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
    const additionalSpecialTokens = additional.map((t) => tokenContent(t, 'additional_special_tokens', configFile)).filter((t) => t !== undefined);
    let hf: HfTokenizer;
    try {
      // the library reads special tokens from the config as strings (older configs spell them {content, ...})
      hf = new HfTokenizer(json, { ...config, ...specialTokens, additional_special_tokens: additionalSpecialTokens });
    } catch (cause) {
      throw new CheckpointError(file, `is not a tokenizer this runtime can read (${(cause as Error).message})`, { cause });
    }
    for (const name of SPECIAL_TOKEN_NAMES) {
      const content = specialTokens[name];
      if (content !== undefined && hf.token_to_id(content) === undefined) {
        throw new CheckpointError(configFile, `${name} ${JSON.stringify(content)} is not a token of ${TOKENIZER_FILE}`);
      }
    }
    const adds = { bos: flag(config, 'add_bos_token', configFile), eos: flag(config, 'add_eos_token', configFile) };
    if (adds.bos && specialTokens.bos_token === undefined) throw new CheckpointError(configFile, 'add_bos_token is true but no bos_token is named');
    if (adds.eos && specialTokens.eos_token === undefined) throw new CheckpointError(configFile, 'add_eos_token is true but no eos_token is named');
    const span = longestTokenSpan(json, config, hf.get_vocab(true).keys());
    return new Tokenizer(hf, specialTokens, adds, readChatTemplate(dir, config, configFile), span, additionalSpecialTokens);
  }

  /** The token ids of `text`; with special tokens (the default) BOS/EOS as the tokenizer's config says. */
  encode(text: string, { addSpecialTokens = true }: { addSpecialTokens?: boolean } = {}): number[] {
    if (this.adds.bos === undefined && this.adds.eos === undefined) return this.hf.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    // as transformers does for these flags: they replace what the post-processor would add
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids;
    if (!addSpecialTokens) return ids;
    return [...(this.adds.bos ? [this.bosTokenId!] : []), ...ids, ...(this.adds.eos ? [this.eosTokenId!] : [])];
  }

  /** The vocabulary's own string of an id (`convert_ids_to_tokens`): unique per id, unlike decoded text; `[id]` outside it. */
  tokenString(id: number): string {
    return this.hf.id_to_token(id) ?? `[${id}]`;
  }

  /**
   * The text of `ids`. Ids the tokenizer does not know are skipped, as the Rust tokenizers do: a model's
   * vocabulary may have more rows than its tokenizer has tokens. `cleanUpSpaces` overrides the config's
   * clean_up_tokenization_spaces (" ." -> ".").
   */
  decode(ids: readonly number[], { skipSpecialTokens = false, cleanUpSpaces }: { skipSpecialTokens?: boolean; cleanUpSpaces?: boolean } = {}): string {
    const known = ids.filter((id) => this.hf.id_to_token(id) !== undefined);
    // the library refuses an empty list
    if (known.length === 0) return '';
    return this.hf.decode(known, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: cleanUpSpaces });
  }

  /** Renders chat messages into a prompt with the checkpoint's chat template; encode it without special tokens. */
  applyChatTemplate(messages: readonly ChatMessage[], { addGenerationPrompt }: { addGenerationPrompt: boolean }): string {
    if (!this.chatTemplate) {
      throw new NoChatTemplateError(`this checkpoint has no chat template (chat_template in ${TOKENIZER_CONFIG_FILE} or ${CHAT_TEMPLATE_FILE}): give a prompt, not chat messages`);
    }
    try {
      return this.chatTemplate.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: addGenerationPrompt,
        ...this.specialTokens,
      });
    } catch (err) {
      // the template's raise_exception (the library's own; it cannot be replaced) throws a plain Error with the template's words
      throw new ChatTemplateError(`the chat template refuses these messages: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The fewest tokens `text` can encode to, known from its length without tokenizing it (special tokens
   * aside): a prompt whose bound is past the model's positions cannot fit. 0 for tokenizers that can drop text
   * without bound.
   */
  minTokensOf(text: string): number {
    return minTokensFor(text.length, this.tokenSpan);
  }
}

/** The tokenizer a text prompt needs; a checkpoint without one takes token ids only. */
export function requireTokenizer(tokenizer: Tokenizer | undefined): Tokenizer {
  if (!tokenizer) throw new NoTokenizerError();
  return tokenizer;
}

function readJsonObject(file: string): Json {
  const name = path.basename(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    const problem = cause instanceof SyntaxError ? `${name} is not valid JSON` : `cannot read ${name}`;
    throw new CheckpointError(file, `${problem} (${(cause as Error).message})`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CheckpointError(file, `${name} must be a JSON object`);
  return parsed as Json;
}

// Special tokens are spelled "<s>", or {"content": "<s>", ...} (AddedToken) in older configs.
function tokenContent(value: unknown, name: string, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown }).content;
  if (typeof value === 'object' && typeof content === 'string') return content;
  throw new CheckpointError(file, `${name} must be a token string or {"content": ...}, got ${JSON.stringify(value)}`);
}

function flag(config: Json, name: string, file: string): boolean | undefined {
  const value = config[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new CheckpointError(file, `${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

// chat_template.jinja first, then tokenizer_config.json's chat_template: a string, or named templates of which
// the one named "default" serves plain chats.
function readChatTemplate(dir: string, config: Json, configFile: string): Template | undefined {
  const separate = path.join(dir, CHAT_TEMPLATE_FILE);
  let source: unknown;
  let file = configFile;
  if (fs.existsSync(separate)) {
    file = separate;
    try {
      source = fs.readFileSync(separate, 'utf8');
    } catch (cause) {
      throw new CheckpointError(separate, `cannot read ${CHAT_TEMPLATE_FILE} (${(cause as Error).message})`, { cause });
    }
  } else {
    source = config.chat_template;
    if (Array.isArray(source)) source = (source as { name?: unknown; template?: unknown }[]).find((t) => t?.name === 'default')?.template;
  }
  if (source === undefined || source === null) return undefined;
  if (typeof source !== 'string') throw new CheckpointError(file, `chat_template must be a string, got ${JSON.stringify(source).slice(0, 80)}`);
  try {
    return new Template(source);
  } catch (cause) {
    throw new CheckpointError(file, `the chat template is not a valid Jinja template (${(cause as Error).message})`, { cause });
  }
}
