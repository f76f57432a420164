// The gate's expert backend: sends each layer's rows to live expert instances over NATS, one message
// per instance (split to fit max_payload), and redirects rows when an instance fails, stalls or the
// gate's own link to NATS drops.
import { ErrorCode, Events, headers, type NatsConnection, type NatsError } from 'nats';
import { formatExpertKey } from '../../model/expert-key.js';
import type { ExpertBatch } from '../../model/forward.js';
import { ATTR_EXPERTS, ATTR_INSTANCE, ATTR_LAYER, ATTR_TOKENS, INSTANCE_TEMPLATE, messageAttributes, recordError, startPublishSpan } from '../../observability/messaging-spans.js';
import { injectContext } from '../../observability/nats-propagation.js';
import type { WireDtype } from '../../runtime/transport/codec.js';
import * as subjects from '../../runtime/transport/subjects.js';
import { answerError, DispatchError, NoReplicaError, type DispatchFailure } from '../protocol/errors.js';
import { decodeDispatchReply, encodeDispatch } from '../protocol/messages.js';
import type { PulseTracker } from './pulse.js';
import { Breakers, DEFAULT_BREAKER, type BreakerOptions } from './breaker.js';
import { Directory, type Instance } from './directory.js';
import type { GateExperts } from './experts.js';
import { DEFAULT_HEDGE, HedgePolicy, type HedgeOptions } from './hedging.js';
import { LoadTracker } from './load-report.js';
import { planHedge, planMessages, rowsPerMessage, type Piece } from './planning.js';

/** A dispatch not answered within this time is sent to another replica. Env: EAAS_DISPATCH_TIMEOUT_MS. */
export const DEFAULT_DISPATCH_TIMEOUT_MS = 3000;
/**
 * How long rows wait for a replica of their expert to come (back) up. Env: EAAS_NO_REPLICA_WAIT_MS. Long enough
 * for the controller to replace what a lost node took (~20 s: 3 missed refreshes, a tick, a start): with 5 s the
 * simulator's 64 hosts failed thousands of requests when two or more hosts failed; with 30 s none.
 */
export const DEFAULT_NO_REPLICA_WAIT_MS = 30_000;
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
  breaker?: Partial<BreakerOptions>;
  /** The window of the load this gate reports. */
  loadWindowMs?: number;
  /** How often the directory re-discovers expert instances. */
  discoveryMs?: number;
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
  /** The link generation it went out on: a dispatch sent before a disconnect is re-sent on reconnect. */
  link: number;
  abort(err: DispatchError): void;
}

/** NATS's own default max_payload (1 MiB): what a message may carry until the server has said. */
const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Failures worth another replica; the rest (a 4xx answer) fail the request. */
const redirectable = (e: DispatchError) => e.reason !== 'error-answer' || (e.code ?? 500) >= 500 || e.code === 404;

export class RemoteExperts implements GateExperts {
  private rotation = 0;
  private link = 0;
  private readonly hedge: HedgePolicy;
  /** Tokens routed and time answered, for the load report. */
  readonly load: LoadTracker;
  private readonly breakers: Breakers;
  private readonly breakerOptions: BreakerOptions;
  /** Messages now in flight: the ledger that redirects them when their instance is announced down. */
  private readonly ledger = new Set<InFlight>();
  /**
   * Dispatch messages, redirected ones (another replica after a failure), hedges and hedges that answered first,
   * re-sends after a reconnect, instances suspected, dispatches that ran into their deadline; the hidden-state rows
   * and bytes the dispatches carried out (a token routed to several experts of one instance counts once).
   */
  readonly counters = { dispatches: 0, redirects: 0, hedges: 0, hedgeWins: 0, resent: 0, suspected: 0, deadlines: 0, wireRows: 0, wireBytes: 0 };
  /** Set by the gate: where redirects, hedges and suspicions are counted for its pulse. */
  incidents?: PulseTracker;
  /** The server's max_payload as last known (nats.js has no server info while it reconnects). */
  private maxPayload = NATS_DEFAULT_MAX_PAYLOAD;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly model: string,
    /** The live expert instances, as this gate sees them. */
    readonly directory: Directory,
    private readonly hidden: number,
    private readonly o: DispatchOptions,
  ) {
    this.hedge = new HedgePolicy({ ...DEFAULT_HEDGE, ...o.hedge });
    this.load = new LoadTracker(o.loadWindowMs, undefined, model);
    this.breakerOptions = { ...DEFAULT_BREAKER, ...o.breaker };
    this.breakers = new Breakers(this.breakerOptions);
    directory.onDown((instance) => this.abortTo(instance, 'announced-down', `expert instance ${instance} was announced down`));
    directory.onUp((instance) => {
      this.breakers.reset(instance);
      // an instance that announces itself up again reconnected (its server died, say) or restarted: what it was sent
      // before may be lost with the old connection, so it goes out again now instead of at the dispatch timeout
      this.abortTo(instance, 'link-lost', `expert instance ${instance} announced itself up again while a dispatch to it was in flight`);
    });
    void this.followLink();
  }

  /** Finds the model's expert instances, then follows them. `hidden`: the rows' width. */
  static async start(nc: NatsConnection, model: string, hidden: number, o: DispatchOptions = {}): Promise<RemoteExperts> {
    const directory = new Directory(nc, model, o.discoveryMs);
    await directory.start();
    return new RemoteExperts(nc, model, directory, hidden, o);
  }

  routable(): string[] {
    return this.directory.routable();
  }

  async stop(): Promise<void> {
    this.directory.stop();
  }

  /** What one message may carry: the server's max_payload, or while reconnecting the last one known. */
  private payloadLimit(): number {
    const now = this.nc.info?.max_payload;
    if (now !== undefined) this.maxPayload = now;
    return this.maxPayload;
  }

  get redirects(): number {
    return this.counters.redirects;
  }

  /** What went out through a connection that dropped may never be answered: re-send it once reconnected. */
  private async followLink(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === Events.Disconnect) this.link++;
      else if (s.type === Events.Reconnect) {
        for (const f of this.ledger) {
          if (f.link < this.link) f.abort(new DispatchError(`the gate's NATS connection dropped while a dispatch to ${f.instance} was in flight`, 'link-lost'));
        }
      }
    }
  }

  private abortTo(instance: string, reason: DispatchFailure, message: string): void {
    for (const f of this.ledger) if (f.instance === instance) f.abort(new DispatchError(message, reason));
  }

  async runExperts(layer: number, batches: ExpertBatch[]): Promise<Float32Array[]> {
    this.load.routed(layer, batches);
    const outputs = batches.map(() => new Float32Array(0));
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
          if (!redirectable(err) || attempt >= (this.o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) throw err;
          if (err.reason === 'no-responders') this.directory.markDown(instance, err.message);
          if (err.reason === 'link-lost') this.counters.resent++;
          else {
            this.counters.redirects++;
            this.incidents?.incident('redirect', instance, err.message);
          }
          // after a lost link the instance itself is fine: it may take the rows again
          return this.deliver(step, group, attempt + 1, err.reason === 'link-lost' ? avoid : new Set([...avoid, instance]));
        }),
      ),
    );
  }

  /** A timed-out (or silent) instance is suspected: nothing more is planned there, and what is in flight there goes elsewhere now. */
  private suspect(instance: string, why = 'a dispatch to it timed out'): void {
    if (this.breakers.state(instance) === 'open') return;
    this.breakers.timeout(instance);
    this.counters.suspected++;
    this.incidents?.incident('suspected', instance, `${why}: its breaker is open`);
    this.abortTo(instance, 'timeout', `expert instance ${instance} is suspected: ${why}`);
  }

  /** Replicas that may take rows of `id` now: live, and not suspected (unless every live one is). */
  private candidates(id: string, avoid: Set<string>): Instance[] {
    const live = this.directory.replicas(id);
    const trusted = live.filter((c) => this.breakers.allows(c.instance));
    const pool = trusted.length > 0 ? trusted : live;
    const fresh = pool.filter((c) => !avoid.has(c.instance));
    return fresh.length > 0 ? fresh : pool;
  }

  private async plan(step: Step, pieces: Piece[], avoid: Set<string>): Promise<{ instance: string; pieces: Piece[] }[]> {
    const idOf = (p: Piece) => formatExpertKey({ layer: step.layer, expert: step.batches[p.batch].expert });
    // rows wait, up to the bound, for a supervisor to bring a replica (back) up; one that comes and goes again is waited for again
    for (;;) {
      const missing = [...new Set(pieces.map(idOf))].filter((id) => this.directory.replicas(id).length === 0);
      if (missing.length === 0) break;
      const waitMs = step.waitUntil - Date.now();
      if (waitMs <= 0) throw new NoReplicaError(missing, this.o.noReplicaWaitMs ?? DEFAULT_NO_REPLICA_WAIT_MS);
      await Promise.all(missing.map((id) => this.directory.waitForReplica(id, waitMs)));
    }
    const maxRows = rowsPerMessage(this.payloadLimit(), PAYLOAD_HEADROOM, this.hidden, WIRE_BYTES[this.o.wire ?? 'f32']);
    return planMessages(pieces, (p) => this.candidates(idOf(p), avoid), (i) => this.hedge.estimate(i), maxRows, () => this.rotation++);
  }

  /** The rows of `pieces` back to back: a view when they already lie so in one buffer (forward packs batches that way), else a copy. */
  private gather(step: Step, pieces: Piece[]): Float32Array {
    const H = this.hidden;
    const views = pieces.map((p) => step.batches[p.batch].input.subarray(p.from * H, (p.from + p.rows) * H));
    const contiguous = views.every((v, i) => i === 0 || (v.buffer === views[0].buffer && v.byteOffset === views[i - 1].byteOffset + views[i - 1].byteLength));
    if (contiguous) return new Float32Array(views[0].buffer, views[0].byteOffset, views.reduce((a, v) => a + v.length, 0));
    const x = new Float32Array(views.reduce((a, v) => a + v.length, 0));
    let offset = 0;
    for (const v of views) {
      x.set(v, offset);
      offset += v.length;
    }
    return x;
  }

  /**
   * The pieces' rows with each token once: its distinct rows and, for each row of the pieces, which of them it is.
   * Undefined when no token repeats (or the batches do not say their tokens): then every row goes as it lies.
   */
  private distinct(step: Step, pieces: Piece[]): { x: Float32Array; index: number[] } | undefined {
    const H = this.hidden;
    const at = new Map<number, number>();
    const index: number[] = [];
    const from: Float32Array[] = [];
    for (const p of pieces) {
      const b = step.batches[p.batch];
      if (!b.tokens) return undefined;
      for (let r = p.from; r < p.from + p.rows; r++) {
        let i = at.get(b.tokens[r]);
        if (i === undefined) {
          at.set(b.tokens[r], (i = from.length));
          from.push(b.input.subarray(r * H, (r + 1) * H));
        }
        index.push(i);
      }
    }
    if (from.length === index.length) return undefined;
    const x = new Float32Array(from.length * H);
    from.forEach((row, i) => x.set(row, i * H));
    return { x, index };
  }

  /** Sends pieces to one instance and resolves with the answer [rows, H]. */
  private send(step: Step, instance: string, pieces: Piece[]): Promise<Float32Array> {
    const experts = pieces.map((p) => step.batches[p.batch].expert);
    const rows = pieces.map((p) => p.rows);
    const total = rows.reduce((a, b) => a + b, 0);
    // a token routed to several experts of this instance travels once
    const once = this.distinct(step, pieces);
    const payload = encodeDispatch({ layer: step.layer, experts, rows, ...(once ?? { x: this.gather(step, pieces) }) }, this.hidden, this.o.wire ?? 'f32');
    this.counters.wireRows += once ? once.x.length / this.hidden : total;
    this.counters.wireBytes += payload.byteLength;
    return this.request(step.layer, instance, experts, total, payload);
  }

  /**
   * Sends one message; if it is much slower than the replicas' recent latency, sends the same rows to other
   * replicas too, each piece to one that hosts its expert. The first complete answer wins; a late one is dropped.
   */
  private async sendHedged(step: Step, instance: string, pieces: Piece[]): Promise<void> {
    const H = this.hidden;
    const idOf = (p: Piece) => formatExpertKey({ layer: step.layer, expert: step.batches[p.batch].expert });
    const peersOf = (p: Piece) => this.directory.replicas(idOf(p)).filter((c) => c.instance !== instance && this.breakers.allows(c.instance));
    // a suspected instance's probe is hedged whatever the budget: while it is still gone (a host lost), its rows
    // must not wait out the deadline once every cool-down
    const probe = this.breakers.state(instance) === 'half-open';
    const sentAt = performance.now();
    const primary = this.send(step, instance, pieces);
    const peers = [...new Set(pieces.flatMap((p) => peersOf(p).map((c) => c.instance)))];
    const delay = this.hedge.delayMs(peers);
    const y =
      delay === undefined
        ? await primary
        : await firstAnswer(primary, delay, () => {
            const plan = planHedge(pieces, instance, peersOf, (i) => this.hedge.estimate(i), this.rotation++);
            if (!plan || (!probe && !this.hedge.take())) return undefined;
            this.counters.hedges++;
            this.incidents?.incident('hedge', instance, `slower than ${Math.round(delay)} ms: its rows also went to ${plan.map((m) => m.instance).join(', ')}`);
            return Promise.all(plan.map((m) => this.send(step, m.instance, m.pieces).then((part) => ({ m, part })))).then((parts) => {
              this.counters.hedgeWins++;
              this.watchSilence(instance, primary, performance.now() - sentAt);
              // back in the order of `pieces`
              const out = new Float32Array(pieces.reduce((a, p) => a + p.rows, 0) * H);
              const at = new Map<Piece, Float32Array>();
              for (const { m, part } of parts) {
                let offset = 0;
                for (const p of m.pieces) {
                  at.set(p, part.subarray(offset * H, (offset + p.rows) * H));
                  offset += p.rows;
                }
              }
              let offset = 0;
              for (const p of pieces) {
                out.set(at.get(p)!, offset * H);
                offset += p.rows;
              }
              return out;
            });
          });
    let offset = 0;
    for (const p of pieces) {
      const part = y.subarray(offset * H, (offset + p.rows) * H);
      const batch = step.batches[p.batch];
      // a piece that is a whole batch is used in place; split batches are assembled
      if (p.from === 0 && p.rows === batch.rows) step.outputs[p.batch] = part;
      else {
        if (step.outputs[p.batch].length === 0) step.outputs[p.batch] = new Float32Array(batch.rows * H);
        step.outputs[p.batch].set(part, p.from * H);
      }
      offset += p.rows;
    }
  }

  /**
   * A hedge answered for `primary`, `elapsedMs` after it was sent: if the instance stays silent as long again (at
   * least `silentMs`), it is suspected (see BreakerOptions). Scaled so a big dispatch is given the time its size
   * needs; not when the gate's own link dropped meanwhile (the silence is then the gate's). A primary that
   * answered already clears the timer at once.
   */
  private watchSilence(instance: string, primary: Promise<unknown>, elapsedMs: number): void {
    const waitMs = Math.max(this.breakerOptions.silentMs, elapsedMs);
    const link = this.link;
    const timer = setTimeout(() => {
      if (this.link === link) this.suspect(instance, `it stayed silent ${Math.round(waitMs)} ms after a hedge answered for it`);
    }, waitMs);
    timer.unref();
    primary.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }

  /** One request/reply to one instance, registered in the ledger while in flight. */
  private async request(layer: number, instance: string, experts: number[], total: number, payload: Uint8Array): Promise<Float32Array> {
    const subject = subjects.expertDispatch(this.model, instance);
    const { span, ctx } = startPublishSpan({ subject, template: subjects.expertDispatch(this.model, INSTANCE_TEMPLATE) }, {
      [ATTR_LAYER]: layer,
      [ATTR_EXPERTS]: experts.join(','),
      [ATTR_TOKENS]: total,
      [ATTR_INSTANCE]: instance,
      ...messageAttributes(this.nc.getServer(), payload.byteLength),
    });
    const hdrs = headers();
    injectContext(ctx, hdrs);
    this.directory.addInflight(instance, total);
    this.breakers.sending(instance);
    const started = performance.now();
    this.counters.dispatches++;
    let entry: InFlight | undefined;
    const aborted = new Promise<never>((_, reject) => {
      entry = { instance, link: this.link, abort: reject };
      this.ledger.add(entry);
    });
    try {
      const reply = await Promise.race([
        aborted,
        this.nc.request(subject, payload, { timeout: this.o.timeoutMs ?? DEFAULT_DISPATCH_TIMEOUT_MS, headers: hdrs }).catch((err: NatsError) => {
          const reason: DispatchFailure = err.code === ErrorCode.NoResponders ? 'no-responders' : err.code === ErrorCode.Timeout ? 'timeout' : 'link-lost';
          // a request already redirected (aborted) still runs out its deadline in nats.js: that one cost nothing
          if (reason === 'timeout' && this.ledger.has(entry!)) this.counters.deadlines++;
          throw new DispatchError(`dispatch to ${instance} failed: ${err.message}`, reason, undefined, { cause: err });
        }),
      ]);
      const answered = answerError(reply);
      if (answered) throw new DispatchError(`expert instance ${instance} answered ${answered.code}: ${answered.message}`, 'error-answer', answered.code, { cause: answered });
      const y = decodeDispatchReply(reply.data, total, this.hidden);
      const ms = performance.now() - started;
      this.hedge.observe(instance, ms);
      this.load.answered(instance, ms);
      this.breakers.success(instance);
      return y;
    } catch (err) {
      recordError(span, err);
      const e = err instanceof DispatchError ? err : new DispatchError(`dispatch to ${instance} failed: ${(err as Error).message}`, 'bad-answer', undefined, { cause: err });
      // an instance that answered, even with an error, is alive; a probe that ended without telling (link lost,
      // announced down) must not keep the breaker half-open with its probe "out" for ever
      if (e.reason === 'error-answer') this.breakers.success(instance);
      // here, not where the rows are redirected: a hedged dispatch's deadline (a probe's, say) counts too
      else if (e.reason === 'timeout') this.suspect(instance);
      else this.breakers.release(instance);
      throw e;
    } finally {
      this.ledger.delete(entry!);
      aborted.catch(() => undefined);
      this.directory.addInflight(instance, -total);
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
