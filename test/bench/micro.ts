// Micro benchmarks: a bare NATS request/reply, and one expert dispatch over NATS vs computed locally.
import type { NatsConnection } from 'nats';
import type { Checkpoint } from '../../model/checkpoint.js';
import { ExpertSet } from '../../model/experts.js';
import type { ModelConfig } from '../../model/config.js';
import { moeLayers } from '../../model/families/shape.js';
import type { ExpertBackend } from '../../model/forward.js';
import { connectNats } from '../../runtime/transport/connection.js';
import { percentile, timeRuns } from './stats.js';

export interface Latency {
  p50: number;
  p90: number;
  n: number;
}

const latency = (ms: number[]): Latency => ({ p50: percentile(ms, 50), p90: percentile(ms, 90), n: ms.length });

/** Round trip of `bytes` bytes through the server to an echo responder on another connection. */
export async function natsRoundTrip(url: string, bytes: number, reps: number): Promise<Latency> {
  const server: NatsConnection = await connectNats(url, 'eaas-bench-echo');
  const client: NatsConnection = await connectNats(url, 'eaas-bench-rtt');
  try {
    const subject = 'eaas.v1.bench.echo';
    server.subscribe(subject, { callback: (err, msg) => !err && msg.respond(msg.data) });
    await server.flush();
    const payload = new Uint8Array(bytes).map((_, i) => i & 0xff);
    return latency(await timeRuns(() => client.request(subject, payload, { timeout: 5000 }), reps, Math.min(50, reps)));
  } finally {
    await client.close();
    await server.close();
  }
}

export interface DispatchBench {
  rows: number;
  nats: Latency;
  local: Latency;
}

function rowsInput(rows: number, hidden: number): Float32Array {
  const x = new Float32Array(rows * hidden);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  return x;
}

/** Expert 0 of the first layer that has experts (DeepSeek's layer 0 is dense). */
const measuredExpert = (c: ModelConfig) => ({ layer: moeLayers(c)[0], expert: 0 });

/** The expert the dispatch micro benchmark runs, loaded in this process with `threads` ORT threads. */
export function loadLocalExpert(ckpt: Checkpoint, threads: number): Promise<ExpertSet> {
  return ExpertSet.load(ckpt, [measuredExpert(ckpt.config)], threads);
}

/**
 * One expert (expert 0 of the first MoE layer) on `rows` rows: through the gate's dispatcher to an expert actor
 * (encode, NATS request, actor compute, decode), and on `local` (see loadLocalExpert) in this process.
 */
export async function expertDispatch(remote: ExpertBackend, local: ExpertSet, rowCounts: number[], reps: (rows: number) => number): Promise<DispatchBench[]> {
  const H = local.config.hiddenSize;
  const key = measuredExpert(local.config);
  const out: DispatchBench[] = [];
  for (const rows of rowCounts) {
    const input = rowsInput(rows, H);
    const batch = [{ expert: key.expert, rows, input }];
    const n = reps(rows);
    const natsMs = await timeRuns(() => remote.runExperts(key.layer, batch), n, 3);
    const localMs = await timeRuns(() => local.run(key, input), n, 3);
    out.push({ rows, nats: latency(natsMs), local: latency(localMs) });
  }
  return out;
}
