// What both `eaas generate` paths share: the prompt as the flags give it, and the result as it is printed.
import type { GenerateResult } from '../../model/engine.js';
import { idList } from './flags.js';
import { UsageError } from './usage.js';

export interface PromptSpec {
  ids?: number[];
  text?: string;
}

export function promptSpec(values: Record<string, unknown>): PromptSpec {
  const ids = values['prompt-ids'];
  const text = values.prompt;
  if ((ids === undefined) === (text === undefined)) throw new UsageError('give exactly one of --prompt-ids 1,2,3 or --prompt TEXT');
  return typeof ids === 'string' ? { ids: idList(ids, 'prompt-ids') } : { text: text as string };
}

/** The JSON shape both generate paths print; `text` is the generated tokens decoded, for a text prompt. */
export function resultJson(r: GenerateResult, elapsedMs: number, text: string | undefined): Record<string, unknown> {
  return {
    tokens: r.tokens,
    prompt_tokens: r.promptTokens,
    finish_reason: r.finishReason,
    ...(text !== undefined ? { text } : {}),
    elapsed_ms: Math.round(elapsedMs * 1000) / 1000,
    ...(r.logits ? { logits: Array.from(r.logits) } : {}),
  };
}

export function printResult(r: GenerateResult, elapsedMs: number, json: boolean, text: string | undefined): void {
  if (json) process.stdout.write(JSON.stringify(resultJson(r, elapsedMs, text)) + '\n');
  else process.stdout.write(r.tokens.join(',') + (text !== undefined ? `\n${text}` : '') + '\n');
}
