// The expert actor's side of its compute worker: sends rows to the worker thread, resolves with the outputs.
import { Worker } from 'node:worker_threads';
import type { ExpertKey } from '../../model/experts.js';
import type { QuantBits } from '../../model/quantize.js';

/** ONNX Runtime threads per expert actor unless EAAS_ORT_THREADS says otherwise: many actors share the cores. */
export const DEFAULT_EXPERT_THREADS = 1;

export interface WorkerInit {
  modelDir: string;
  keys: ExpertKey[];
  threads: number;
  /** The experts' projections quantized to these bits; unset: float32. */
  bits?: QuantBits;
}

export interface ComputeRequest {
  id: number;
  layer: number;
  experts: number[];
  rows: number[];
  x: Float32Array;
}

export interface ComputeReply {
  id: number;
  y?: Float32Array;
  /** [start, end] epoch milliseconds of each expert's run, for its span. */
  timings?: [number, number][];
  error?: string;
}

/** The ONNX Runtime work of a dispatch failed. */
export class ComputeError extends Error {
  override readonly name = 'ComputeError';
}

// Worker threads load JavaScript: from source (vitest) use the build in dist/.
const HERE = new URL(import.meta.url);
const WORKER = HERE.pathname.endsWith('.ts') ? new URL('../../dist/actors/expert/compute-worker.js', HERE) : new URL('./compute-worker.js', HERE);

export class ExpertCompute {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: ComputeReply): void; reject(e: Error): void }>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: ComputeReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new ComputeError(m.error));
      else p.resolve(m);
    });
    worker.on('error', (err) => this.failAll(new ComputeError(`compute worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => this.failAll(new ComputeError(`compute worker exited with code ${code}`)));
  }

  /** Starts the worker and resolves once it holds a session for every expert of `init.keys`. */
  static start(init: WorkerInit): Promise<ExpertCompute> {
    const worker = new Worker(WORKER, { workerData: init });
    return new Promise((resolve, reject) => {
      const onMessage = (m: { ready?: boolean; failed?: string }) => {
        if (m.failed !== undefined) reject(new ComputeError(`cannot load experts: ${m.failed}`));
        else if (m.ready) resolve(new ExpertCompute(worker));
        else return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      const onExit = (code: number) => reject(new ComputeError(`compute worker exited with code ${code} while loading`));
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  }

  /**
   * Runs each expert of `layer` on its rows of x (back to back); y comes back moved. x is moved to the worker
   * when it owns its whole buffer (the codec copied it out of an unaligned message), else copied: a view into
   * a NATS read buffer cannot be given away.
   */
  run(layer: number, experts: number[], rows: number[], x: Float32Array): Promise<ComputeReply> {
    const id = this.nextId++;
    const owned = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && x.buffer instanceof ArrayBuffer;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, layer, experts, rows, x } satisfies ComputeRequest, owned ? [x.buffer as ArrayBuffer] : []);
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
