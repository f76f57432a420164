// A simulated gate: continuous batching of its sequences, and per MoE layer a dispatch of each expert's rows
// planned, hedged, suspected and redirected by the gate's own policy code (planning, hedging, breaker).
import { Breakers, DEFAULT_BREAKER, type BreakerOptions } from '../../actors/gate/breaker.js';
import { DEFAULT_HEDGE, HedgePolicy, type HedgeOptions } from '../../actors/gate/hedging.js';
import { planHedge, planMessages, type Candidate, type Piece } from '../../actors/gate/planning.js';
import type { SimClock } from './clock.js';
import { Cores } from './cores.js';
import type { ActorEvents, ExpertHosts, SimActor } from './expert-hosts.js';
import { Histogram, PerSecond } from './measures.js';
import { gateDispatchSideMs, gateLayerMs, gateStepMs, messageMs, type CostProfile, type SimModel } from './profile.js';
import type { Routing } from './routing.js';
import { stepRows } from './step-rows.js';
import { DEFAULT_LOAD_WINDOW_MS, SlidingLatencies, type LatencyBins } from '../../observability/load-window.js';

/** One request: its prompt and output lengths, when it arrived, and who to tell when it ends. */
export interface SimRequest {
  arrivedAt: number;
  prompt: number;
  output: number;
  ended?: (ok: boolean) => void;
}

export interface GateOptions {
  maxBatch: number;
  /** Prompt rows one step takes at most (chunked prefill). */
  prefillBudget: number;
  dispatchTimeoutMs: number;
  discoveryMs: number;
  /** How long rows wait for a replica of their expert before the step fails. */
  noReplicaWaitMs: number;
  maxRowsPerMessage: number;
  hedge?: Partial<HedgeOptions>;
  breaker?: Partial<BreakerOptions>;
}

/** Shared by every gate of a run. */
export interface GateMeasures {
  tokens: PerSecond;
  ttft: Histogram;
  itl: Histogram;
  completed: number;
  failed: number;
  counters: { dispatches: number; redirects: number; hedges: number; hedgeWins: number; timeouts: number; suspected: number };
}

export const newGateMeasures = (): GateMeasures => ({
  tokens: new PerSecond(),
  ttft: new Histogram(),
  itl: new Histogram(),
  completed: 0,
  failed: 0,
  counters: { dispatches: 0, redirects: 0, hedges: 0, hedgeWins: 0, timeouts: 0, suspected: 0 },
});

interface Sequence {
  req: SimRequest;
  prefillLeft: number;
  produced: number;
  lastTokenAt: number;
}

/** A piece of one layer step: an expert's rows (or part of them), answered once. */
interface Fragment {
  id: string;
  rows: number;
  done: boolean;
}

interface LayerRun {
  pending: number;
  finished: boolean;
  done: () => void;
  fail: () => void;
}

interface Sent {
  instance: string;
  frags: Fragment[];
  rows: number;
  sentAt: number;
  settled: boolean;
  hedge: boolean;
  /** A hedge's primary: still silent `silentMs` after the hedge answered, its instance is suspected. */
  of?: Sent;
  /** Sent to a half-open instance: hedged whatever the budget. */
  probe: boolean;
  run: LayerRun;
}

export class SimGate implements ActorEvents {
  private readonly replicas = new Map<string, string[]>();
  private readonly known = new Map<string, SimActor>();
  private readonly inflight = new Map<string, number>();
  private readonly outstanding = new Set<Sent>();
  private readonly parked: { run: LayerRun; frags: Fragment[]; until: number }[] = [];
  /** The gate process's one JavaScript thread: its steps and its dispatches' encoding run one at a time, each on a core of its host. */
  private readonly thread: Cores;
  private readonly hedging: HedgePolicy;
  private readonly breakers: Breakers;
  private readonly breakerOptions: BreakerOptions;
  private rotation = 0;
  private deadlineArmed = false;
  private running: Sequence[] = [];
  private readonly waiting: SimRequest[] = [];
  private stepping = false;
  /** Tokens routed per expert id since the controller last took them. */
  private routed = new Map<string, number>();
  /** The time between its sequences' tokens over the load window, as a real gate's load report has it. */
  private readonly tokenGaps: SlidingLatencies;

  constructor(
    readonly name: string,
    private readonly clock: SimClock,
    private readonly experts: ExpertHosts,
    private readonly routing: Routing,
    private readonly model: SimModel,
    private readonly profile: CostProfile,
    private readonly o: GateOptions,
    private readonly m: GateMeasures,
    /** The cores of the gate's host (gates on one host share them). */
    private readonly cores: Cores,
    until: number,
  ) {
    this.thread = new Cores(clock, 1);
    this.tokenGaps = new SlidingLatencies(DEFAULT_LOAD_WINDOW_MS, clock.now);
    this.hedging = new HedgePolicy({ ...DEFAULT_HEDGE, ...o.hedge }, clock.now);
    this.breakerOptions = { ...DEFAULT_BREAKER, ...o.breaker };
    this.breakers = new Breakers(this.breakerOptions, clock.now);
    experts.listen(this);
    for (const a of experts.actors.values()) if (a.serving) this.up(a.instance, a);
    clock.every(o.discoveryMs, clock.now() + o.discoveryMs, until, () => this.discover());
  }

  /** Sequences running and waiting. */
  get load(): number {
    return this.running.length + this.waiting.length;
  }

  submit(req: SimRequest): void {
    this.waiting.push(req);
    this.step();
  }

  /** Tokens routed per expert since the last call (the gate's load report). */
  takeRouted(): Map<string, number> {
    const out = this.routed;
    this.routed = new Map();
    return out;
  }

  /** The time between its sequences' tokens over the load window, as the gate's load report has it. */
  itlBins(): LatencyBins {
    return this.tokenGaps.bins();
  }

  up(instance: string, actor: SimActor): void {
    if (this.known.has(instance)) return;
    this.known.set(instance, actor);
    this.breakers.reset(instance);
    for (const id of actor.ids) this.replicas.set(id, [...(this.replicas.get(id) ?? []), instance]);
    this.unpark();
  }

  down(instance: string): void {
    const actor = this.known.get(instance);
    if (!actor) return;
    this.known.delete(instance);
    for (const id of actor.ids) this.replicas.set(id, (this.replicas.get(id) ?? []).filter((i) => i !== instance));
    this.breakers.release(instance);
    this.abortTo(instance);
  }

  // --- batching ---

  private step(): void {
    if (this.stepping) return;
    while (this.running.length < this.o.maxBatch && this.waiting.length > 0) {
      const req = this.waiting.shift()!;
      this.running.push({ req, prefillLeft: req.prompt, produced: 0, lastTokenAt: 0 });
    }
    if (this.running.length === 0) return;
    this.stepping = true;
    const { chunks, rows, heads } = stepRows(this.running, this.o.prefillBudget);
    const batch = this.running;
    const layer = (l: number) =>
      this.cores.runOnThread(this.thread, gateLayerMs(this.profile, this.model, rows), () =>
        this.dispatch(l, rows, {
          pending: 0,
          finished: false,
          done: () => (l + 1 < this.model.moeLayers ? layer(l + 1) : this.cores.runOnThread(this.thread, gateStepMs(this.profile, this.model, heads), () => this.finish(batch, chunks))),
          fail: () => this.failStep(batch),
        }),
      );
    layer(0);
  }

  private finish(batch: Sequence[], chunks: Map<Sequence, number>): void {
    const now = this.clock.now();
    const ended: Sequence[] = [];
    for (const s of batch) {
      const chunk = chunks.get(s);
      if (chunk !== undefined) {
        s.prefillLeft -= chunk;
        if (s.prefillLeft > 0) continue;
        this.m.ttft.add(now - s.req.arrivedAt);
      } else if (s.prefillLeft > 0) continue;
      else {
        this.m.itl.add(now - s.lastTokenAt);
        this.tokenGaps.add(now - s.lastTokenAt);
      }
      s.produced++;
      s.lastTokenAt = now;
      this.m.tokens.add(now, 1);
      if (s.produced >= s.req.output) ended.push(s);
    }
    this.running = this.running.filter((s) => !ended.includes(s));
    // the requests that follow these (a closed loop) join the next step together, as a wave does
    for (const s of ended) {
      this.m.completed++;
      s.req.ended?.(true);
    }
    this.stepping = false;
    this.step();
  }

  /** A layer's rows found no replica in time: the step fails, and its requests with it. */
  private failStep(batch: Sequence[]): void {
    this.running = this.running.filter((s) => !batch.includes(s));
    for (const s of batch) {
      this.m.failed++;
      s.req.ended?.(false);
    }
    this.stepping = false;
    this.step();
  }

  // --- dispatch ---

  private dispatch(layer: number, rows: number, run: LayerRun): void {
    const counts = this.routing.counts(layer, rows);
    const frags: Fragment[] = [];
    counts.forEach((n, e) => {
      if (n === 0) return;
      const id = `${layer}:${e}`;
      frags.push({ id, rows: n, done: false });
      this.routed.set(id, (this.routed.get(id) ?? 0) + n);
    });
    run.pending = frags.length;
    if (frags.length === 0) return run.done();
    this.send(run, frags);
  }

  private candidates(id: string, avoid?: string): Candidate[] {
    const live = (this.replicas.get(id) ?? []).filter((i) => i !== avoid);
    const trusted = live.filter((i) => this.breakers.allows(i));
    return (trusted.length > 0 ? trusted : live).map((instance) => ({ instance, inflightRows: this.inflight.get(instance) ?? 0 }));
  }

  /** Plans `frags` onto replicas (production planning) and posts the messages; what has no replica now waits. */
  private send(run: LayerRun, frags: Fragment[], avoid?: string): void {
    const ready = frags.filter((f) => this.candidates(f.id, avoid).length > 0);
    const waiting = frags.filter((f) => !ready.includes(f));
    if (waiting.length > 0) this.park(run, waiting);
    if (ready.length === 0) return;
    const pieces: Piece[] = ready.map((f, batch) => ({ batch, from: 0, rows: f.rows }));
    const plan = planMessages(pieces, (p) => this.candidates(ready[p.batch].id, avoid), (i) => this.hedging.estimate(i), this.o.maxRowsPerMessage, () => this.rotation++);
    for (const msg of plan) this.post(run, msg.instance, this.fragmentsOf(run, ready, msg.pieces), false);
  }

  /** The fragments a message carries: a piece split over messages becomes fragments of its own, each answered once. */
  private fragmentsOf(run: LayerRun, frags: Fragment[], pieces: Piece[]): Fragment[] {
    return pieces.map((p) => {
      const f = frags[p.batch];
      if (p.rows === f.rows) return f;
      if (p.from === 0) run.pending--; // the whole piece is replaced by its parts
      run.pending++;
      return { id: f.id, rows: p.rows, done: false };
    });
  }

  private post(run: LayerRun, instance: string, frags: Fragment[], hedge: boolean, of?: Sent): void {
    const rows = frags.reduce((n, f) => n + f.rows, 0);
    const probe = this.breakers.state(instance) === 'half-open';
    const s: Sent = { instance, frags, rows, sentAt: this.clock.now(), settled: false, hedge, of, probe, run };
    this.outstanding.add(s);
    this.inflight.set(instance, (this.inflight.get(instance) ?? 0) + rows);
    this.breakers.sending(instance);
    this.m.counters.dispatches++;
    const rowsOf = frags.map((f) => ({ id: f.id, rows: f.rows }));
    // the gate's share of a dispatch's CPU: encoding the rows now, decoding the answer when it comes
    const side = gateDispatchSideMs(this.profile, rows);
    const answered = () => this.cores.runOnThread(this.thread, side, () => this.answered(s));
    this.cores.runOnThread(this.thread, side, () => this.clock.after(messageMs(this.profile, this.model, rows), () => this.experts.deliver(instance, { rows: rowsOf, wireRows: rows, from: this.cores, answered })));
    this.armDeadline();
    if (hedge) return;
    const peers = [...new Set(frags.flatMap((f) => this.candidates(f.id, instance).map((c) => c.instance)))];
    const delay = this.hedging.delayMs(peers);
    if (delay !== undefined) this.clock.after(delay, () => this.maybeHedge(s));
  }

  private maybeHedge(s: Sent): void {
    const open = s.frags.filter((f) => !f.done);
    if (s.settled || s.run.finished || open.length === 0) return;
    const pieces: Piece[] = open.map((f, batch) => ({ batch, from: 0, rows: f.rows }));
    const plan = planHedge(pieces, s.instance, (p) => this.candidates(open[p.batch].id, s.instance), (i) => this.hedging.estimate(i), this.rotation++);
    if (!plan || (!s.probe && !this.hedging.take())) return;
    this.m.counters.hedges++;
    for (const msg of plan) this.post(s.run, msg.instance, msg.pieces.map((p) => open[p.batch]), true, s);
  }

  private settle(s: Sent): void {
    s.settled = true;
    this.outstanding.delete(s);
    this.inflight.set(s.instance, (this.inflight.get(s.instance) ?? 0) - s.rows);
  }

  private answered(s: Sent): void {
    if (s.settled) return; // a redirected dispatch's late answer
    this.settle(s);
    this.hedging.observe(s.instance, this.clock.now() - s.sentAt);
    this.breakers.success(s.instance);
    let won = false;
    for (const f of s.frags) {
      if (f.done) continue;
      f.done = true;
      won = true;
      s.run.pending--;
    }
    if (won && s.hedge) {
      this.m.counters.hedgeWins++;
      const primary = s.of;
      // as the gate: once every row of the primary came by hedges, it may stay silent as long again as it took
      if (primary && !primary.settled && primary.frags.every((f) => f.done)) {
        const waitMs = Math.max(this.breakerOptions.silentMs, this.clock.now() - primary.sentAt);
        this.clock.after(waitMs, () => primary.settled || this.breakers.state(primary.instance) === 'open' || this.suspect(primary.instance));
      }
    }
    if (s.run.pending === 0 && !s.run.finished) {
      s.run.finished = true;
      s.run.done();
    }
  }

  /**
   * One timer for every deadline: dispatches share one timeout, so the oldest outstanding one is due first (a Set
   * keeps insertion order). Cheaper than a timer per dispatch, and the same moments.
   */
  private armDeadline(): void {
    if (this.deadlineArmed) return;
    const oldest = this.outstanding.values().next().value;
    if (!oldest) return;
    this.deadlineArmed = true;
    this.clock.at(oldest.sentAt + this.o.dispatchTimeoutMs, () => {
      this.deadlineArmed = false;
      for (const s of this.outstanding) {
        if (s.sentAt + this.o.dispatchTimeoutMs > this.clock.now()) break;
        this.timedOut(s);
      }
      this.armDeadline();
    });
  }

  /** A dispatch ran out its deadline: its instance is suspected (breaker open) and what is in flight there, this one too, goes elsewhere. */
  private timedOut(s: Sent): void {
    this.m.counters.timeouts++;
    this.suspect(s.instance);
  }

  /** Its breaker opens, and what is in flight there goes elsewhere. */
  private suspect(instance: string): void {
    if (this.breakers.state(instance) !== 'open') {
      this.breakers.timeout(instance);
      this.m.counters.suspected++;
    }
    this.abortTo(instance);
  }

  /** Everything in flight to `instance` goes to other replicas now. */
  private abortTo(instance: string): void {
    for (const s of [...this.outstanding]) {
      if (s.instance !== instance) continue;
      this.settle(s);
      const open = s.frags.filter((f) => !f.done);
      if (open.length === 0 || s.run.finished) continue;
      this.m.counters.redirects++;
      this.send(s.run, open, instance);
    }
  }

  private park(run: LayerRun, frags: Fragment[]): void {
    const entry = { run, frags, until: this.clock.now() + this.o.noReplicaWaitMs };
    this.parked.push(entry);
    this.clock.at(entry.until, () => {
      const i = this.parked.indexOf(entry);
      if (i < 0 || run.finished) return;
      this.parked.splice(i, 1);
      run.finished = true;
      run.fail();
    });
  }

  private unpark(): void {
    for (const entry of [...this.parked]) {
      const open = entry.frags.filter((f) => !f.done);
      if (entry.run.finished || open.every((f) => this.candidates(f.id).length === 0)) continue;
      this.parked.splice(this.parked.indexOf(entry), 1);
      this.send(entry.run, open);
    }
  }

  /** The gate's periodic discovery: instances that no longer answer are dropped, new ones taken in. */
  private discover(): void {
    for (const instance of [...this.known.keys()]) if (!this.experts.answers(instance)) this.down(instance);
    for (const a of this.experts.actors.values()) if (a.serving && !this.known.has(a.instance) && this.experts.answers(a.instance)) this.up(a.instance, a);
  }
}
