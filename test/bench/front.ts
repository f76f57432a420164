// The API front's cost: 32 concurrent streams over HTTP (SSE) against the same load as direct NATS generate
// requests, interleaved on one cluster; time to first token and inter-token latency seen by the HTTP client.
// The load comes from a child process, as real clients are elsewhere: parsing SSE must not slow the gate.
// Run as a script, this file is that client: node front.js <nats-url> <http-url> <model> <vocab> <concurrency> <maxTokens> <reps>
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { requestGenerate } from '../../actors/gate/client.js';
import type { LocalCluster } from '../../runtime/node/cluster.js';
import { connectNats } from '../../runtime/transport/connection.js';
import { benchPrompt } from './decode.js';
import { fmt, median, percentile, table } from './stats.js';

export interface FrontBench {
  natsTokPerS: number[];
  httpTokPerS: number[];
  ttftMs: number[];
  itlMs: number[];
}

/** One wave of `concurrency` greedy requests of `maxTokens` each through NATS; tokens per second. */
async function natsWave(nc: NatsConnection, model: string, vocab: number, concurrency: number, maxTokens: number): Promise<number> {
  const t0 = performance.now();
  const outs = await Promise.all(Array.from({ length: concurrency }, (_, i) => requestGenerate(nc, model, { prompt: benchPrompt(i, vocab), max_tokens: maxTokens, stop_at_eos: false })));
  return outs.reduce((a, r) => a + r.tokens.length, 0) / ((performance.now() - t0) / 1000);
}

/** The same wave as SSE streams from the front; tokens per second, and every stream's token arrival times. */
async function httpWave(url: string, model: string, vocab: number, concurrency: number, maxTokens: number, ttft: number[], itl: number[]): Promise<number> {
  const t0 = performance.now();
  const counts = await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const sent = performance.now();
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: benchPrompt(i, vocab), max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, return_token_ids: true }),
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let tokens = 0;
      let last: number | undefined;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        buffer += decoder.decode(r.value, { stream: true });
        const events = buffer.split('\n\n');
        buffer = events.pop()!;
        for (const e of events) {
          if (e === 'data: [DONE]') continue;
          const ids = (JSON.parse(e.slice(6)) as { choices: { token_ids?: number[] }[] }).choices[0]?.token_ids ?? [];
          if (ids.length === 0) continue;
          const now = performance.now();
          if (last === undefined) ttft.push(now - sent);
          else itl.push((now - last) / ids.length);
          last = now;
          tokens += ids.length;
        }
      }
      return tokens;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

/** Interleaved waves: NATS, HTTP, NATS, HTTP, ... so drift hits both alike. */
async function interleaved(natsUrl: string, httpUrl: string, model: string, vocab: number, o: { concurrency: number; maxTokens: number; reps: number }): Promise<FrontBench> {
  const out: FrontBench = { natsTokPerS: [], httpTokPerS: [], ttftMs: [], itlMs: [] };
  const nc: NatsConnection = await connectNats(natsUrl, 'eaas-bench-front-client');
  try {
    // one unmeasured wave of each warms both paths
    await natsWave(nc, model, vocab, o.concurrency, o.maxTokens);
    await httpWave(httpUrl, model, vocab, o.concurrency, o.maxTokens, [], []);
    for (let i = 0; i < o.reps; i++) {
      out.natsTokPerS.push(await natsWave(nc, model, vocab, o.concurrency, o.maxTokens));
      out.httpTokPerS.push(await httpWave(httpUrl, model, vocab, o.concurrency, o.maxTokens, out.ttftMs, out.itlMs));
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** Runs the interleaved waves from a client process against `cluster` (which serves HTTP). */
export function benchFront(cluster: LocalCluster, vocab: number, o: { concurrency: number; maxTokens: number; reps: number }): Promise<FrontBench> {
  const args = [cluster.url, cluster.api!.url, cluster.model, vocab, o.concurrency, o.maxTokens, o.reps].map(String);
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as FrontBench));
    child.once('exit', (code) => reject(new Error(`the front bench client exited with code ${code} before reporting`)));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [natsUrl, httpUrl, model, vocab, concurrency, maxTokens, reps] = process.argv.slice(2);
  const b = await interleaved(natsUrl, httpUrl, model, Number(vocab), { concurrency: Number(concurrency), maxTokens: Number(maxTokens), reps: Number(reps) });
  process.send!(b, () => process.exit(0));
}

const spread = (v: number[]) => `${fmt(Math.min(...v), 0)}-${fmt(Math.max(...v), 0)}`;

export function frontReport(label: string, b: FrontBench, concurrency: number): string {
  const nats = median(b.natsTokPerS);
  const http = median(b.httpTokPerS);
  return [
    `API front (${label}, ${concurrency} concurrent streams from a client process, greedy, interleaved waves):`,
    table(
      ['path', 'tok/s median', 'range', 'vs NATS', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms'],
      [
        ['NATS generate', fmt(nats, 0), spread(b.natsTokPerS), '1.00', '-', '-', '-', '-'],
        ['HTTP SSE', fmt(http, 0), spread(b.httpTokPerS), fmt(http / nats, 2), fmt(percentile(b.ttftMs, 50)), fmt(percentile(b.ttftMs, 99)), fmt(percentile(b.itlMs, 50), 2), fmt(percentile(b.itlMs, 99), 2)],
      ],
    ),
    `front's cost: ${fmt(100 * (1 - http / nats))}% of the NATS throughput (goal <= 5%)`,
  ].join('\n');
}
