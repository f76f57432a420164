// Micro benchmarks: a bare NATS request/reply, and one expert dispatch over NATS vs computed locally.
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import type { Checkpoint } from '../../model/checkpoint.js';
import { ExpertSet } from '../../model/experts.js';
import type { ModelConfig } from '../../model/config.js';
import { moeLayers } from '../../model/families/shape.js';
import type { ExpertBackend } from '../../model/forward.js';
import { RemoteExperts } from '../../actors/gate/remote-experts.js';
import { connectNats } from '../../runtime/transport/connection.js';
import { percentile, timeRuns } from './stats.js';

export interface Latency {
  p50: number;
  p90: number;
  n: number;
}

const latency = (ms: number[]): Latency => ({ p50: percentile(ms, 50), p90: percentile(ms, 90), n: ms.length });

/** Idle time before each request of the "after idle" round trip: about the gap between one actor's dispatches at 1 prompt. */
export const IDLE_GAP_MS = 5;

export interface RoundTrips {
  /** The echo responder on another connection of this process, requests back to back. */
  sameProcess: Latency;
  /** The echo responder in a process of its own (as an expert actor is), back to back... */
  otherProcess: Latency;
  /** ...and after IDLE_GAP_MS of idle before each request: what a wake-up from idle costs on this host. */
  afterIdle: Latency;
}

const ECHO = new URL('./echo.js', import.meta.url);
const INSTANT_ACTOR = new URL('./instant-actor.js', import.meta.url);

/** Forks a bench helper process and waits for its 'ready'. */
async function forkReady(script: URL, args: string[]): Promise<ChildProcess> {
  const child = fork(fileURLToPath(script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`${fileURLToPath(script)} exited with code ${code}`)));
  });
  return child;
}

/** Round trips of `bytes` bytes through the server to an echo responder, in this process and in another. */
export async function natsRoundTrips(url: string, bytes: number, reps: number): Promise<RoundTrips> {
  const local: NatsConnection = await connectNats(url, 'eaas-bench-echo-local');
  const client: NatsConnection = await connectNats(url, 'eaas-bench-rtt');
  const echo = await forkReady(ECHO, [url, 'eaas.v1.bench.echo.other']);
  try {
    local.subscribe('eaas.v1.bench.echo.same', { callback: (err, msg) => !err && msg.respond(msg.data) });
    await local.flush();
    const payload = new Uint8Array(bytes).map((_, i) => i & 0xff);
    const ask = (subject: string) => () => client.request(subject, payload, { timeout: 5000 });
    const warmup = Math.min(50, reps);
    const sameProcess = latency(await timeRuns(ask('eaas.v1.bench.echo.same'), reps, warmup));
    const otherProcess = latency(await timeRuns(ask('eaas.v1.bench.echo.other'), reps, warmup));
    const afterIdle: number[] = [];
    for (let i = 0; i < Math.min(reps, 300); i++) {
      await sleep(IDLE_GAP_MS);
      const t0 = performance.now();
      await ask('eaas.v1.bench.echo.other')();
      afterIdle.push(performance.now() - t0);
    }
    return { sameProcess, otherProcess, afterIdle: latency(afterIdle) };
  } finally {
    echo.disconnect();
    await client.close();
    await local.close();
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

export interface ExpertShape {
  rows: number;
  threads: number;
  /** One expert's SwiGLU (three MatMuls) on `rows` rows, cycling through the layer's experts so none stays cached. */
  ms: number;
  /** Its weights streamed per second, and its multiply-adds ×2 per second. */
  bytesPerS: number;
  flopPerS: number;
}

/**
 * How fast ONNX Runtime runs one expert at the shapes decoding uses (1, 8 and 32 rows) with the monolith's threads
 * (every core) and an expert actor's (1): against the floors, this is what bounds the expert part of a step.
 */
export async function expertShapes(ckpt: Checkpoint, rowCounts: number[], threadCounts: number[]): Promise<ExpertShape[]> {
  const c = ckpt.config;
  const layer = moeLayers(c)[0];
  const keys = Array.from({ length: c.numLocalExperts }, (_, expert) => ({ layer, expert }));
  const H = c.hiddenSize;
  const F = c.intermediateSize;
  const out: ExpertShape[] = [];
  for (const threads of threadCounts) {
    const set = await ExpertSet.load(ckpt, keys, threads);
    try {
      for (const rows of rowCounts) {
        const x = rowsInput(rows, H);
        const cycle = async () => {
          for (const k of keys) await set.run(k, x);
        };
        const ms = percentile(await timeRuns(cycle, 5, 1), 50) / keys.length;
        out.push({ rows, threads, ms, bytesPerS: (3 * H * F * 4) / (ms / 1000), flopPerS: (2 * 3 * rows * H * F) / (ms / 1000) });
      }
    } finally {
      await set.release();
    }
  }
  return out;
}

/**
 * The dispatch protocol alone: `rows` rows of one expert through a gate's dispatcher (plan, encode, request, decode)
 * to a real expert actor in a process of its own whose experts answer at once (instant-actor.ts).
 */
export async function instantDispatch(url: string, c: ModelConfig, rowCounts: number[], reps: (rows: number) => number): Promise<{ rows: number; nats: Latency }[]> {
  const key = measuredExpert(c);
  const model = 'bench-instant';
  const actor = await forkReady(INSTANT_ACTOR, [url, model, String(c.hiddenSize), String(key.layer), String(key.expert)]);
  const nc = await connectNats(url, 'eaas-bench-instant-gate');
  try {
    const remote = await RemoteExperts.start(nc, model, c.hiddenSize);
    try {
      const out: { rows: number; nats: Latency }[] = [];
      for (const rows of rowCounts) {
        const batch = [{ expert: key.expert, rows, input: rowsInput(rows, c.hiddenSize) }];
        // as many warm-up dispatches as measured ones: both processes are fresh, and their first thousand run cold
        out.push({ rows, nats: latency(await timeRuns(() => remote.runExperts(key.layer, batch), reps(rows), reps(rows))) });
      }
      return out;
    } finally {
      await remote.stop();
    }
  } finally {
    actor.disconnect();
    await nc.close();
  }
}
