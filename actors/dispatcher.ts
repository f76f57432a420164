// The gate's expert backend: sends each layer's rows to live expert instances over NATS,
// one message per instance (split to fit max_payload), and redirects rows when an instance fails.
import { ErrorCode, headers, type NatsConnection, type NatsError } from 'nats';
import type { ExpertBackend, ExpertBatch } from '../model/forward.js';
import { ATTR_EXPERTS, ATTR_INSTANCE, ATTR_LAYER, ATTR_TOKENS, recordError, startPublishSpan } from '../observability/messaging-spans.js';
import { injectContext } from '../observability/nats-propagation.js';
import type { WireDtype } from '../runtime/codec.js';
import * as subjects from '../runtime/subjects.js';
import type { Directory, Instance } from './directory.js';
import { DEFAULT_HEDGE, HedgePolicy, type HedgeOptions } from './hedging.js';
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
  hedge?: Partial<HedgeOptions>;
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

/** One layer step being delivered. */
interface Step {
  layer: number;
  batches: ExpertBatch[];
  outputs: Float32Array[];
  /** Rows wait for a missing replica until then. */
  waitUntil: number;
}

/** A message in flight, for the ledger. */
interface InFlight {
  instance: string;
  abort(err: DispatchError): void;
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
  private readonly hedge: HedgePolicy;
  /** Messages now in flight: the ledger that redirects them when their instance is announced down. */
  private readonly ledger = new Set<InFlight>();
  /** Messages resent to another replica after a failure, and hedges sent to a second replica. */
  readonly counters = { dispatches: 0, redirects: 0, hedges: 0, hedgeWins: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly model: string,
    private readonly directory: Directory,
    private readonly hidden: number,
    private readonly o: DispatchOptions = {},
  ) {
    this.hedge = new HedgePolicy({ ...DEFAULT_HEDGE, ...o.hedge });
    directory.onDown((instance) => {
      for (const f of this.ledger) if (f.instance === instance) f.abort(new DispatchError(`expert instance ${instance} was announced down`, 503));
    });
  }

  get redirects(): number {
    return this.counters.redirects;
  }

  async runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]> {
    const outputs = batches.map((b) => new Float32Array(b.rows * this.hidden));
    const pieces = batches.map((b, batch) => ({ batch, from: 0, rows: b.rows })).filter((p) => p.rows > 0);
    const waitUntil = Date.now() + (this.o.noReplicaWaitMs ?? DEFAULT_NO_REPLICA_WAIT_MS);
    await this.deliver({ layer, batches, outputs, waitUntil }, pieces, 1, new Set());
    return outputs;
  }

  private async deliver(step: Step, pieces: Piece[], attempt: number, avoid: Set<string>): Promise<void> {
    const plan = await this.plan(step, pieces, avoid);
    await Promise.all(
      plan.map(({ instance, pieces: group }) =>
        this.sendHedged(step, instance, group).catch((err: DispatchError) => {
          if (!retryable(err) || attempt >= (this.o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) throw err;
          if (err.code === 503) this.directory.markDown(instance, err.message);
          this.counters.redirects++;
          return this.deliver(step, group, attempt + 1, new Set([...avoid, instance]));
        }),
      ),
    );
  }

  /** Chooses an instance per piece (least rows in flight, rotating on ties) and packs messages. */
  private async plan(step: Step, pieces: Piece[], avoid: Set<string>): Promise<{ instance: string; pieces: Piece[] }[]> {
    const idOf = (p: Piece) => `${step.layer}:${step.batches[p.batch].expert}`;
    const missing = [...new Set(pieces.map(idOf))].filter((id) => this.directory.replicas(id).length === 0);
    if (missing.length > 0) {
      // rows wait, up to the bound, for a supervisor to bring a replica (back) up
      const waitMs = Math.max(0, step.waitUntil - Date.now());
      const found = await Promise.all(missing.map((id) => this.directory.waitForReplica(id, waitMs)));
      const still = missing.filter((_, i) => !found[i]);
      if (still.length > 0) throw new NoReplicaError(still, this.o.noReplicaWaitMs ?? DEFAULT_NO_REPLICA_WAIT_MS);
    }
    const planned = new Map<string, number>();
    const byInstance = new Map<string, Piece[]>();
    for (const piece of pieces) {
      const candidates = this.directory.replicas(idOf(piece));
      if (candidates.length === 0) throw new NoReplicaError([idOf(piece)], this.o.noReplicaWaitMs ?? DEFAULT_NO_REPLICA_WAIT_MS);
      const fresh = candidates.filter((c) => !avoid.has(c.instance));
      const chosen = this.leastLoaded(fresh.length > 0 ? fresh : candidates, planned);
      planned.set(chosen.instance, (planned.get(chosen.instance) ?? 0) + piece.rows);
      byInstance.set(chosen.instance, [...(byInstance.get(chosen.instance) ?? []), piece]);
    }
    const maxRows = Math.max(1, Math.floor((this.nc.info!.max_payload - PAYLOAD_HEADROOM) / (this.hidden * WIRE_BYTES[this.o.wire ?? 'f32'])));
    return [...byInstance].flatMap(([instance, group]) => splitRows(group, maxRows).map((p) => ({ instance, pieces: p })));
  }

  /** The replica expected to answer first: (rows in flight + planned + 1) x its recent latency; rotating on ties. */
  private leastLoaded(candidates: Instance[], planned: Map<string, number>): Instance {
    const known = candidates.map((c) => this.hedge.estimate(c.instance)).filter((v): v is number => v !== undefined);
    // an instance without a fresh latency counts as the fastest known, so it gets (re)measured
    const fallback = known.length > 0 ? Math.min(...known) : 1;
    const score = (x: Instance) => (x.inflightRows + (planned.get(x.instance) ?? 0) + 1) * (this.hedge.estimate(x.instance) ?? fallback);
    const start = this.rotation++ % candidates.length;
    let best = candidates[start];
    for (let i = 1; i < candidates.length; i++) {
      const c = candidates[(start + i) % candidates.length];
      if (score(c) < score(best)) best = c;
    }
    return best;
  }

  /**
   * Sends one message; if it is much slower than its peers' recent latency, sends the same
   * rows to a second replica too. The first answer wins; a late one is dropped.
   */
  private async sendHedged(step: Step, instance: string, pieces: Piece[]): Promise<void> {
    const H = this.hidden;
    const rows = pieces.map((p) => p.rows);
    const total = rows.reduce((a, b) => a + b, 0);
    const x = new Float32Array(total * H);
    let offset = 0;
    for (const p of pieces) {
      x.set(step.batches[p.batch].input.subarray(p.from * H, (p.from + p.rows) * H), offset * H);
      offset += p.rows;
    }
    const experts = pieces.map((p) => step.batches[p.batch].expert);
    const payload = encodeDispatch({ layer: step.layer, experts, rows, x }, H, this.o.wire ?? 'f32');
    const request = (target: string) => this.request(step.layer, target, experts, total, payload);
    const ids = experts.map((e) => `${step.layer}:${e}`);
    const peers = this.directory.all().filter((i) => i.up && i.instance !== instance && ids.every((id) => i.experts.has(id)));
    const primary = request(instance);
    const delay = this.hedge.delayMs(peers.map((p) => p.instance));
    const y =
      delay === undefined
        ? await primary
        : await firstAnswer(primary, delay, () => {
            const alive = peers.filter((p) => p.up);
            if (alive.length === 0 || !this.hedge.take()) return undefined;
            this.counters.hedges++;
            return request(this.leastLoaded(alive, new Map()).instance).then((v) => {
              this.counters.hedgeWins++;
              return v;
            });
          });
    offset = 0;
    for (const p of pieces) {
      step.outputs[p.batch].set(y.subarray(offset * H, (offset + p.rows) * H), p.from * H);
      offset += p.rows;
    }
  }

  /** One request/reply to one instance, registered in the ledger while in flight. */
  private async request(layer: number, instance: string, experts: number[], total: number, payload: Uint8Array): Promise<Float32Array> {
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
    const started = performance.now();
    this.counters.dispatches++;
    let entry: InFlight | undefined;
    const aborted = new Promise<never>((_, reject) => {
      entry = { instance, abort: reject };
      this.ledger.add(entry);
    });
    try {
      const reply = await Promise.race([
        aborted,
        this.nc.request(subject, payload, { timeout: this.o.timeoutMs ?? DEFAULT_DISPATCH_TIMEOUT_MS, headers: hdrs }).catch((err: NatsError) => {
          const code = err.code === ErrorCode.NoResponders ? 503 : err.code === ErrorCode.Timeout ? 504 : 502;
          throw new DispatchError(`dispatch to ${instance} failed: ${err.message}`, code, { cause: err });
        }),
      ]);
      const errCode = reply.headers?.get('Nats-Service-Error-Code');
      if (errCode) {
        throw new DispatchError(`expert instance ${instance} answered ${errCode}: ${reply.headers?.get('Nats-Service-Error')}`, Number(errCode) || 500);
      }
      const y = decodeDispatchReply(reply.data, total, this.hidden);
      this.hedge.observe(instance, performance.now() - started);
      return y;
    } catch (err) {
      recordError(span, err);
      throw err instanceof DispatchError ? err : new DispatchError(`dispatch to ${instance} failed: ${(err as Error).message}`, 500, { cause: err });
    } finally {
      this.ledger.delete(entry!);
      aborted.catch(() => undefined);
      if (info) info.inflightRows -= total;
      span.end();
    }
  }
}

/**
 * Resolves with the primary's answer, or — once `delayMs` passed without one — with the first
 * answer of the primary or the hedge `startHedge` returns. Fails when every started request failed
 * (with the primary's error, so the redirect path avoids that instance).
 */
function firstAnswer<T>(primary: Promise<T>, delayMs: number, startHedge: () => Promise<T> | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let running = 1;
    let primaryError: unknown;
    const win = (v: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const lose = (err: unknown, isPrimary: boolean) => {
      if (isPrimary) primaryError = err;
      if (settled) return;
      if (--running === 0 || (isPrimary && hedge === undefined)) {
        settled = true;
        clearTimeout(timer);
        reject(primaryError ?? err);
      }
    };
    let hedge: Promise<T> | undefined;
    const timer = setTimeout(() => {
      hedge = startHedge();
      if (!hedge) return;
      running++;
      hedge.then(win, (err) => lose(err, false));
    }, delayMs);
    primary.then(win, (err) => lose(err, true));
  });
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
