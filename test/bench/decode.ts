// Decode throughput of one executor: generated tokens per second at a given concurrency.

/** Something that generates greedily from a prompt: the monolithic engine or a gate over NATS. */
export type GenerateFn = (prompt: number[], maxTokens: number) => Promise<number[]>;

export interface DecodeRun {
  concurrency: number;
  prompts: number;
  tokens: number;
  ms: number;
  tokPerS: number;
  /** Generated tokens of each prompt index used. */
  outputs: Map<number, number[]>;
}

export const PROMPT_TOKENS = 16;

/** Deterministic prompts of PROMPT_TOKENS ids, all different, inside the vocabulary (ids 0-2 are special). */
export function benchPrompt(i: number, vocabSize: number): number[] {
  const span = Math.min(vocabSize, 512) - 3;
  return Array.from({ length: PROMPT_TOKENS }, (_, j) => 3 + ((i * 131 + j * 17 + ((i * j) % 7)) % span));
}

/**
 * `rounds` waves of `concurrency` prompts; the prompts of a wave are submitted at once and
 * batched by the engine. Prompt indices start at `first`, so different runs may share prompts.
 */
export async function decode(gen: GenerateFn, vocabSize: number, concurrency: number, rounds: number, maxTokens: number, first = 0): Promise<DecodeRun> {
  const outputs = new Map<number, number[]>();
  let tokens = 0;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const ids = Array.from({ length: concurrency }, (_, i) => first + r * concurrency + i);
    const results = await Promise.all(ids.map((id) => gen(benchPrompt(id, vocabSize), maxTokens)));
    results.forEach((toks, i) => {
      outputs.set(ids[i], toks);
      tokens += toks.length;
    });
  }
  const ms = performance.now() - t0;
  return { concurrency, prompts: concurrency * rounds, tokens, ms, tokPerS: (tokens / ms) * 1000, outputs };
}

/** Prompts whose tokens differ between two runs (only indices both ran). */
export function mismatches(a: Map<number, number[]>, b: Map<number, number[]>): { compared: number; differing: number[] } {
  const differing: number[] = [];
  let compared = 0;
  for (const [id, toks] of a) {
    const other = b.get(id);
    if (!other) continue;
    compared++;
    if (other.length !== toks.length || other.some((t, i) => t !== toks[i])) differing.push(id);
  }
  return { compared, differing };
}
