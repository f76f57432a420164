// The cost of a secure deployment (TLS, credentials, permissions): the same decode load on a plain and a
// secure `eaas up`, one after the other and back (plain, secure, plain), so drift shows as the plain runs' spread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestGenerate } from '../../actors/gate/client.js';
import { startLocalCluster } from '../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../runtime/transport/connection.js';
import { decode } from './decode.js';
import { fmt, table } from './stats.js';

async function measure(dir: string, vocab: number, secure: boolean, o: { concurrency: number; maxTokens: number; rounds: number }): Promise<number> {
  const state = secure ? mkdtempSync(join(tmpdir(), 'eaas-bench-secure-')) : undefined;
  const cluster = await startLocalCluster({ modelDir: dir, secureStateDir: state });
  const auth = cluster.secure ? { creds: cluster.secure.users.client, tlsCa: cluster.secure.tls.ca } : {};
  const nc = await connectNats(cluster.url, 'eaas-bench-secure', {}, auth);
  try {
    const gen = async (prompt: number[], maxTokens: number) => (await requestGenerate(nc, cluster.model, { prompt, max_tokens: maxTokens, stop_at_eos: false })).tokens;
    await decode(gen, vocab, o.concurrency, 1, o.maxTokens);
    return (await decode(gen, vocab, o.concurrency, o.rounds, o.maxTokens)).tokPerS;
  } finally {
    await closeNats(nc);
    await cluster.stop();
    if (state) rmSync(state, { recursive: true, force: true });
  }
}

export async function benchSecure(label: string, dir: string, vocab: number, o: { concurrency: number; maxTokens: number; rounds: number }): Promise<string> {
  const plain1 = await measure(dir, vocab, false, o);
  const secure = await measure(dir, vocab, true, o);
  const plain2 = await measure(dir, vocab, false, o);
  const plain = (plain1 + plain2) / 2;
  return [
    `secure deployment (${label}, ${o.concurrency} concurrent prompts over NATS, plain / secure / plain):`,
    table(
      ['deployment', 'tok/s', 'vs plain'],
      [
        ['plain', `${fmt(plain1, 0)}, ${fmt(plain2, 0)}`, '1.00'],
        ['--secure (TLS, creds)', fmt(secure, 0), fmt(secure / plain, 2)],
      ],
    ),
    `TLS and auth cost: ${fmt(100 * (1 - secure / plain))}% (plain runs differ by ${fmt((100 * Math.abs(plain1 - plain2)) / plain)}%)`,
  ].join('\n');
}
