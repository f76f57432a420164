// The gate's expert backend: sends each layer's rows to live expert instances over NATS,
// one message per instance (split to fit max_payload), and redirects rows when an instance fails.
import { ErrorCode, headers, type NatsConnection, type NatsError } from 'nats';
import type { ExpertBackend, ExpertBatch } from '../model/forward.js';
import { ATTR_EXPERTS, ATTR_INSTANCE, ATTR_LAYER, ATTR_TOKENS, recordError, startPublishSpan } from '../observability/messaging-spans.js';
import { injectContext } from '../observability/nats-propagation.js';
import type { WireDtype } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import type { Directory, Instance } from './directory.js';
import { decodeDispatchReply, encodeDispatch } from './protocol.js';

/** A dispatch not answered within this time is sent to another replica. Env: EAAS_DISPATCH_TIMEOUT_MS. */
export const DEFAULT_DISPATCH_TIMEOUT_MS = 3000;
/** How long rows wait for a replica of their expert to come (back) up. Env: EAAS_NO_REPLICA_WAIT_MS. */
export const DEFAULT_NO_REPLICA_WAIT_MS = 5000;
/** Attempts per row before its request fails. */
export const DEFAULT_MAX_ATTEMPTS = 6;
/** Bytes kept free in each message for the msgpack envelope and headers. */
const PAYLOAD_HEADROOM = 16 * 1024;
const WIRE_BYTES: Record<WireDtype, number> = { f32: 4, bf16: 2, f16: 2 };

export interface DispatchOptions {
  timeoutMs?: number;
  noReplicaWaitMs?: number;
  maxAttempts?: number;
  wire?: WireDtype;
}

/** No live replica of these experts came up in time. */
export class NoReplicaError extends Error {
  override readonly name = 'NoReplicaError';
  constructor(readonly experts: string[], waitedMs: number) {
    super(`no live replica of expert${experts.length > 1 ? 's' : ''} ${experts.join(', ')} (layer:expert) within ${waitedMs} ms`);
  }
}

/** An instance answered with an error, or not at all. */
export class DispatchError extends Error {
  override readonly name = 'DispatchError';
  constructor(
    message: string,
    readonly code: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Rows [from, from + rows) of batch `batch`. */
interface Piece {
  batch: number;
  from: number;
  rows: number;
}

const retryable = (e: DispatchError) => e.code >= 500 || e.code === 404;

export class RemoteExperts implements ExpertBackend {
  private rotation = 0;
  /** Dispatches that were redirected to another replica. */
  redirects = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly model: string,
    private readonly directory: Directory,
    private readonly hidden: number,
    private readonly o: DispatchOptions = {},
  ) {}

  async runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]> {
    const outputs = batches.map((b) => new Float32Array(b.rows * this.hidden));
    const pieces = batches.map((b, batch) => ({ batch, from: 0, rows: b.rows })).filter((p) => p.rows > 0);
    await this.deliver(layer, batches, pieces, outputs, 1, new Set());
    return outputs;
  }

  private async deliver(layer: number, batches: ExpertBatch[], pieces: Piece[], outputs: Float32Array[], attempt: number, avoid: Set<string>): Promise<void> {
    const plan = await this.plan(layer, batches, pieces, avoid);
    await Promise.all(
      plan.map(({ instance, pieces: group }) =>
        this.send(layer, batches, instance, group, outputs).catch((err: DispatchError) => {
          if (!retryable(err) || attempt >= (this.o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) throw err;
          if (err.code === 503) this.directory.markDown(instance, 'no responders');
          this.redirects++;
          return this.deliver(layer, batches, group, outputs, attempt + 1, new Set([...avoid, instance]));
        }),
      ),
    );
  }

  /** Chooses an instance per piece (least rows in flight, rotating on ties) and packs messages. */
  private async plan(layer: number, batches: ExpertBatch[], pieces: Piece[], avoid: Set<string>): Promise<{ instance: string; pieces: Piece[] }[]> {
    const planned = new Map<string, number>();
    const byInstance = new Map<string, Piece[]>();
    for (const piece of pieces) {
      const id = `${layer}:${batches[piece.batch].expert}`;
      let candidates = this.directory.replicas(id);
      if (candidates.length === 0) {
        const waitMs = this.o.noReplicaWaitMs ?? DEFAULT_NO_REPLICA_WAIT_MS;
        if (!(await this.directory.waitForReplica(id, waitMs))) throw new NoReplicaError([id], waitMs);
        candidates = this.directory.replicas(id);
      }
      const fresh = candidates.filter((c) => !avoid.has(c.instance));
      const chosen = this.leastLoaded(fresh.length > 0 ? fresh : candidates, planned);
      planned.set(chosen.instance, (planned.get(chosen.instance) ?? 0) + piece.rows);
      byInstance.set(chosen.instance, [...(byInstance.get(chosen.instance) ?? []), piece]);
    }
    const maxRows = Math.max(1, Math.floor((this.nc.info!.max_payload - PAYLOAD_HEADROOM) / (this.hidden * WIRE_BYTES[this.o.wire ?? 'f32'])));
    return [...byInstance].flatMap(([instance, group]) => splitRows(group, maxRows).map((p) => ({ instance, pieces: p })));
  }

  private leastLoaded(candidates: Instance[], planned: Map<string, number>): Instance {
    const start = this.rotation++ % candidates.length;
    let best = candidates[start];
    for (let i = 1; i < candidates.length; i++) {
      const c = candidates[(start + i) % candidates.length];
      const load = (x: Instance) => x.inflightRows + (planned.get(x.instance) ?? 0);
      if (load(c) < load(best)) best = c;
    }
    return best;
  }

  private async send(layer: number, batches: ExpertBatch[], instance: string, pieces: Piece[], outputs: Float32Array[]): Promise<void> {
    const H = this.hidden;
    const rows = pieces.map((p) => p.rows);
    const total = rows.reduce((a, b) => a + b, 0);
    const x = new Float32Array(total * H);
    let offset = 0;
    for (const p of pieces) {
      x.set(batches[p.batch].input.subarray(p.from * H, (p.from + p.rows) * H), offset * H);
      offset += p.rows;
    }
    const experts = pieces.map((p) => batches[p.batch].expert);
    const subject = subjects.expertDispatch(this.model, instance);
    const { span, ctx } = startPublishSpan(subject, {
      [ATTR_LAYER]: layer,
      [ATTR_EXPERTS]: experts.join(','),
      [ATTR_TOKENS]: total,
      [ATTR_INSTANCE]: instance,
    });
    const hdrs = headers();
    injectContext(ctx, hdrs);
    const info = this.directory.get(instance);
    if (info) info.inflightRows += total;
    try {
      const payload = encodeDispatch({ layer, experts, rows, x }, H, this.o.wire ?? 'f32');
      const reply = await this.nc
        .request(subject, payload, { timeout: this.o.timeoutMs ?? DEFAULT_DISPATCH_TIMEOUT_MS, headers: hdrs })
        .catch((err: NatsError) => {
          const code = err.code === ErrorCode.NoResponders ? 503 : err.code === ErrorCode.Timeout ? 504 : 502;
          throw new DispatchError(`dispatch to ${instance} failed: ${err.message}`, code, { cause: err });
        });
      const errCode = reply.headers?.get('Nats-Service-Error-Code');
      if (errCode) {
        throw new DispatchError(`expert instance ${instance} answered ${errCode}: ${reply.headers?.get('Nats-Service-Error')}`, Number(errCode) || 500);
      }
      const y = decodeDispatchReply(reply.data, total, H);
      offset = 0;
      for (const p of pieces) {
        outputs[p.batch].set(y.subarray(offset * H, (offset + p.rows) * H), p.from * H);
        offset += p.rows;
      }
    } catch (err) {
      recordError(span, err);
      throw err instanceof DispatchError ? err : new DispatchError(`dispatch to ${instance} failed: ${(err as Error).message}`, 500, { cause: err });
    } finally {
      if (info) info.inflightRows -= total;
      span.end();
    }
  }
}

/** Packs pieces into messages of at most maxRows rows, splitting a piece when it alone is larger. */
export function splitRows(pieces: Piece[], maxRows: number): Piece[][] {
  const messages: Piece[][] = [];
  let current: Piece[] = [];
  let room = maxRows;
  for (const p of pieces) {
    let from = p.from;
    let left = p.rows;
    while (left > 0) {
      const take = Math.min(left, room);
      current.push({ batch: p.batch, from, rows: take });
      from += take;
      left -= take;
      room -= take;
      if (room === 0) {
        messages.push(current);
        current = [];
        room = maxRows;
      }
    }
  }
  if (current.length > 0) messages.push(current);
  return messages;
}
