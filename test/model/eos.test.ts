import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endOfSequenceIds } from '../../model/eos.js';
import { openMonolithic } from '../../model/monolithic.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { tinyCheckpointDir } from '../helpers/tiny-model.js';

describe('end of sequence', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  beforeAll(() => {
    tiny = tinyCheckpointDir();
  });
  afterAll(() => tiny.remove());

  const setEos = (value: unknown) => {
    const file = join(tiny.dir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...config, eos_token_id: value }));
  };

  it('takes the tokenizer’s EOS and config.json’s eos_token_id, one id or a list', () => {
    expect(endOfSequenceIds(tiny.dir, Tokenizer.load(tiny.dir))).toEqual([2]);
    setEos([7, 9]);
    expect(endOfSequenceIds(tiny.dir)).toEqual([7, 9]);
    expect(endOfSequenceIds(tiny.dir, Tokenizer.load(tiny.dir))).toEqual([2, 7, 9]);
    setEos(null);
    expect(endOfSequenceIds(tiny.dir)).toEqual([2]);
  });

  it('stops a generation at the checkpoint’s own EOS id', async () => {
    setEos(null);
    const free = await openMonolithic(tiny.dir);
    const greedy = (await free.engine.generate([1, 2, 3], { maxTokens: 8, stopAtEos: false })).tokens;
    await free.close();
    // the third generated token becomes the model's EOS
    setEos(greedy[2]);
    const m = await openMonolithic(tiny.dir);
    const r = await m.engine.generate([1, 2, 3], { maxTokens: 8 });
    await m.close();
    expect(r.finishReason).toBe('eos');
    expect(r.tokens).toEqual(greedy.slice(0, greedy.indexOf(greedy[2]) + 1));
  });
});
