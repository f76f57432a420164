// Worker thread of an expert actor: holds the ONNX Runtime sessions and runs dispatches, so that the
// actor's event loop (NATS, heartbeats, draining) never waits behind a large matrix multiplication.
import { parentPort, workerData } from 'node:worker_threads';
import { Checkpoint } from '../../model/checkpoint.js';
import { ExpertSet, type ExpertKey } from '../../model/experts.js';
import type { ComputeReply, ComputeRequest, WorkerInit } from './compute.js';

const init = workerData as WorkerInit;
const port = parentPort!;

async function main(): Promise<void> {
  const checkpoint = Checkpoint.open(init.modelDir);
  let experts: ExpertSet;
  try {
    experts = await ExpertSet.load(checkpoint, init.keys as ExpertKey[], init.threads, init.bits);
  } finally {
    checkpoint.close();
  }
  const H = checkpoint.config.hiddenSize;
  port.on('message', (req: ComputeRequest) => {
    void run(experts, H, req).then(
      (reply) => port.postMessage(reply, [reply.y!.buffer as ArrayBuffer]),
      (err: unknown) => port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies ComputeReply),
    );
  });
  port.postMessage({ ready: true });
}

async function run(experts: ExpertSet, H: number, req: ComputeRequest): Promise<ComputeReply> {
  const y = new Float32Array(req.x.length);
  const timings: [number, number][] = [];
  let offset = 0;
  for (let i = 0; i < req.experts.length; i++) {
    const start = performance.timeOrigin + performance.now();
    const part = req.x.subarray(offset * H, (offset + req.rows[i]) * H);
    y.set(await experts.run({ layer: req.layer, expert: req.experts[i] }, part), offset * H);
    timings.push([start, performance.timeOrigin + performance.now()]);
    offset += req.rows[i];
  }
  return { id: req.id, y, timings };
}

main().catch((err: unknown) => {
  port.postMessage({ failed: err instanceof Error ? err.message : String(err) });
});
