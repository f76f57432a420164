// Step 1 of training (ops/train/run.sh): the corpus, its split, the tokenizer trained on the training part,
// and both parts as token ids for the trainer. Usage: node dist/ops/train/prepare.js WORK_DIR MODEL_DIR [VOCAB]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELD_OUT_FILE } from '../../model/perplexity.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { tokenizerConfigJson, tokenizerJson, trainBpe } from './bpe.js';
import { fetchCorpus, readDocuments, splitDocuments, type Document } from './corpus.js';

function main(): void {
  const [work, modelDir, vocabArg] = process.argv.slice(2);
  if (!work || !modelDir) throw new Error('usage: prepare.js WORK_DIR MODEL_DIR [VOCAB]');
  const vocabSize = Number(vocabArg ?? 4096);
  mkdirSync(work, { recursive: true });
  mkdirSync(modelDir, { recursive: true });
  fetchCorpus(work);
  const { train, heldOut } = splitDocuments(readDocuments(work));
  const chars = (docs: Document[]) => docs.reduce((n, d) => n + d.text.length, 0);
  console.log(`documents: ${train.length} training (${chars(train)} characters), ${heldOut.length} held out (${chars(heldOut)}): ${heldOut.map((d) => d.name).join(', ')}`);

  const t0 = Date.now();
  const bpe = trainBpe(train.map((d) => d.text), vocabSize);
  console.log(`tokenizer: ${Object.keys(bpe.vocab).length} tokens, ${bpe.merges.length} merges in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  writeFileSync(join(modelDir, 'tokenizer.json'), JSON.stringify(tokenizerJson(bpe)));
  writeFileSync(join(modelDir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfigJson(), null, 2)}\n`);
  // the held-out documents separated by blank lines
  writeFileSync(join(modelDir, HELD_OUT_FILE), `${heldOut.map((d) => d.text).join('\n\n')}\n`);

  // through the runtime's own tokenizer, so the trainer sees exactly the ids serving will
  const tokenizer = Tokenizer.load(modelDir)!;
  const eos = tokenizer.eosTokenId!;
  const write = (docs: Document[], file: string) => {
    const ids: number[] = [];
    for (const d of docs) ids.push(...tokenizer.encode(d.text), eos);
    writeFileSync(join(work, file), new Uint16Array(ids));
    console.log(`${file}: ${ids.length} tokens (${(chars(docs) / ids.length).toFixed(2)} characters per token)`);
  };
  write(train, 'train.bin');
  write(heldOut, 'heldout.bin');
}

main();
