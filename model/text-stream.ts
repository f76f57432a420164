// Streaming detokenization: generated token ids in one at a time, the text each adds out, never half a character.
import type { Tokenizer } from './tokenizer.js';

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Turns generated ids into text deltas whose concatenation is the decode of all of them (without the clean-up
 * of spaces, see below). A token decoded
 * alone can be wrong twice over: a byte-level token may hold part of a UTF-8 character (the decode ends in
 * U+FFFD until the rest comes), and some decoders change a token by its neighbours (SentencePiece drops the
 * leading space of the first token). So each step decodes a short window, the tokens of the last delta as
 * context plus those since, and emits what the window adds beyond its context once that does not end in
 * U+FFFD (the incremental detokenizer of vLLM and TGI). Decoding skips no spaces (clean-up off): a clean-up
 * across a window's edge would change text already emitted.
 */
export class TextStream {
  private readonly ids: number[] = [];
  /** The window's first token: the context starts here. */
  private prefixOffset = 0;
  /** The first token whose text is not emitted yet. */
  private readOffset = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly options: { skipSpecialTokens?: boolean } = { skipSpecialTokens: true },
  ) {}

  /** Takes the next generated id; returns the text it completes, often '' (a character still missing bytes). */
  push(id: number): string {
    this.ids.push(id);
    const { context, text } = this.window();
    if (text.length <= context.length || text.endsWith(REPLACEMENT_CHARACTER)) return '';
    return this.advance(text.slice(context.length));
  }

  /** At the end of the generation: the text still held back (a character that never completed shows as U+FFFD). */
  flush(): string {
    const { context, text } = this.window();
    return this.advance(text.slice(context.length));
  }

  private window(): { context: string; text: string } {
    return { context: this.decode(this.ids.slice(this.prefixOffset, this.readOffset)), text: this.decode(this.ids.slice(this.prefixOffset)) };
  }

  private advance(delta: string): string {
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return delta;
  }

  private decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: this.options.skipSpecialTokens, cleanUpSpaces: false });
  }
}
