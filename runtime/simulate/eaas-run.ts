// One simulated run of an eaas deployment: expert hosts with the static placement `eaas up` starts (place()),
// gates on hosts of their own, a workload (closed loop or arrivals), faults at set times, and optionally the
// controller. Returns what a bench would measure.
import { DEFAULT_DISPATCH_TIMEOUT_MS, DEFAULT_NO_REPLICA_WAIT_MS } from '../../actors/gate/remote-experts.js';
import { DEFAULT_DISCOVERY_MS } from '../../actors/gate/directory.js';
import { rowsPerMessage } from '../../actors/gate/planning.js';
import type { PolicyConfig } from '../../actors/controller/policy.js';
import { place } from '../../actors/supervisor/static-placement.js';
import { DEFAULT_SUPERVISION } from '../../actors/supervisor/supervision.js';
import type { ExpertKey } from '../../model/expert-key.js';
import { SimClock } from './clock.js';
import { Cores } from './cores.js';
import { ExpertHosts, type SimHost } from './expert-hosts.js';
import { Integral, type PerSecond } from './measures.js';
import { prng } from './prng.js';
import { modelExperts, type CostProfile, type SimModel } from './profile.js';
import { Routing } from './routing.js';
import { SimController, type SimChange } from './sim-controller.js';
import { newGateMeasures, SimGate, type GateMeasures, type GateOptions } from './sim-gate.js';

/** Request lengths drawn per request (closed loop), or requests at set times (open loop). */
export type SimLoad = { kind: 'closed'; lengths: (rnd: () => number) => { prompt: number; output: number } } | { kind: 'open'; arrivals: { at: number; prompt: number; output: number }[] };

/** A fault at `at` ms: a whole host lost (it comes back empty after `hostRepairMs`), or one actor's process killed. */
export interface SimFault {
  at: number;
  kind: 'host' | 'actor';
  target: string;
}

export interface EaasRunConfig {
  model: SimModel;
  profile: CostProfile;
  expertHosts: number;
  actorsPerHost: number;
  minReplicas: number;
  gates: number;
  /** Gates per gate host (they share its cores). */
  gatesPerHost: number;
  /** Replica sets dealt alike (place()'s copysets), so actor j of every set, on host j of every share, holds the same experts. */
  copysets?: boolean;
  /** The gates run on the first expert host, sharing its cores with the actors (`eaas up` on one machine). */
  colocated?: boolean;
  maxBatch: number;
  prefillBudget: number;
  skew: number;
  seed: number;
  durationMs: number;
  /** Measures start after this (the batches fill, latencies are learnt). */
  warmupMs: number;
  load: SimLoad;
  faults?: SimFault[];
  hostRepairMs?: number;
  /**
   * The controller, deciding every `tickMs`; with `startPerActor`, the run starts with actors of that many experts
   * (place()'s replica sets of them: the fewest the policy allows when `perActor` divides the experts evenly), as a controller that followed the night before would hold, not the static ones.
   */
  autoscale?: { policy: PolicyConfig; tickMs: number; startPerActor?: number };
  gate?: Partial<GateOptions>;
}

export interface EaasRunResult {
  /** Generated tokens per second over [warmup, duration). */
  tokensPerS: number;
  measures: GateMeasures;
  /** Expert actors alive over time (a step function) and its integral over the measured span. */
  actors: Integral;
  actorSeconds: number;
  hostNames: string[];
  /** Expert compute, core-ms per simulated second. */
  busy: PerSecond;
  changes: SimChange[];
  restarts: number;
  lostDispatches: number;
  events: number;
}

export const HOST_MAX_PAYLOAD = 1024 * 1024;
const ENVELOPE_BYTES = 4096;

/**
 * The static placement on `hosts`: production place() deals the experts into `minReplicas` replica sets, and each
 * set runs on its own share of the hosts (set r on hosts ⌊r·H/min⌋ .. ⌊(r+1)·H/min⌋ − 1), so a host, or a rack of
 * hosts within one share, never holds two replicas of an expert. Each set has as many actors as its smallest share
 * has slots. With fewer hosts than replicas (one machine), every set runs on every host.
 */
export function staticPlacement(model: SimModel, hosts: number, actorsPerHost: number, minReplicas: number, copysets = false, perActor?: number): { host: number; index: number; group: number; experts: ExpertKey[] }[] {
  const experts = modelExperts(model);
  // fewer hosts than replicas (one machine): every set on every host
  const share = (r: number) =>
    hosts < minReplicas ? { first: 0, count: hosts } : { first: Math.floor((r * hosts) / minReplicas), count: Math.floor(((r + 1) * hosts) / minReplicas) - Math.floor((r * hosts) / minReplicas) };
  const perSet = hosts < minReplicas ? Math.max(1, Math.floor((hosts * actorsPerHost) / minReplicas)) : Math.min(...Array.from({ length: minReplicas }, (_, r) => share(r).count)) * actorsPerHost;
  const specs = place(experts, minReplicas, perActor ?? Math.ceil(experts.length / perSet), copysets);
  const seen = new Array<number>(minReplicas).fill(0);
  return specs.map((s) => {
    const { first, count } = share(s.group);
    return { host: first + (seen[s.group]++ % count), ...s };
  });
}

export function runEaas(c: EaasRunConfig): EaasRunResult {
  const clock = new SimClock();
  const rnd = prng(c.seed);
  const routing = new Routing(c.model, c.skew, prng(c.seed ^ 0x9e3779b9));
  const hostNames = Array.from({ length: c.expertHosts }, (_, i) => `h${i}`);
  const hosts = new ExpertHosts(clock, c.model, c.profile, DEFAULT_SUPERVISION, hostNames);
  const placement = staticPlacement(c.model, c.expertHosts, c.actorsPerHost, c.minReplicas, c.copysets, c.autoscale?.startPerActor);
  // the run starts with the static actors serving
  for (const p of placement) hosts.start(hosts.hosts[p.host], { instance: `h${p.host}-e${p.index}`, index: p.index, group: p.group, experts: p.experts }, 0, false);
  const options: GateOptions = {
    maxBatch: c.maxBatch,
    prefillBudget: c.prefillBudget,
    dispatchTimeoutMs: DEFAULT_DISPATCH_TIMEOUT_MS,
    discoveryMs: DEFAULT_DISCOVERY_MS,
    noReplicaWaitMs: DEFAULT_NO_REPLICA_WAIT_MS,
    maxRowsPerMessage: rowsPerMessage(HOST_MAX_PAYLOAD, ENVELOPE_BYTES, c.model.hidden, c.model.wireBytes),
    ...c.gate,
  };
  const measures = newGateMeasures();
  clock.runUntil(c.profile.hopMs + 1); // the static actors are announced
  const gateHosts = Array.from({ length: Math.ceil(c.gates / c.gatesPerHost) }, () => (c.colocated ? hosts.hosts[0].cores : new Cores(clock, c.profile.coresPerHost)));
  const gates = Array.from({ length: c.gates }, (_, i) => new SimGate(`g${i}`, clock, hosts, routing, c.model, c.profile, options, measures, gateHosts[Math.floor(i / c.gatesPerHost)], c.durationMs));

  if (c.load.kind === 'closed') {
    const load = c.load;
    const submit = (g: SimGate) => {
      if (clock.now() >= c.durationMs) return;
      const { prompt, output } = load.lengths(rnd);
      g.submit({ arrivedAt: clock.now(), prompt, output, ended: () => submit(g) });
    };
    for (const g of gates) for (let i = 0; i < c.maxBatch; i++) submit(g);
  } else {
    for (const a of c.load.arrivals) {
      clock.at(a.at, () => {
        // to the gate with the fewest sequences, as a front spreading requests would
        const g = gates.reduce((best, x) => (x.load < best.load ? x : best));
        g.submit({ arrivedAt: clock.now(), prompt: a.prompt, output: a.output });
      });
    }
  }

  for (const f of c.faults ?? []) {
    clock.at(f.at, () => {
      if (f.kind === 'actor') return hosts.killActor(f.target);
      hosts.killHost(f.target);
      if (c.hostRepairMs !== undefined) clock.after(c.hostRepairMs, () => revive(hosts.host(f.target)));
    });
  }
  // a revived host's supervisor starts its static share again (without a controller: the static placement is its desired one)
  const revive = (h: SimHost) => {
    hosts.reviveHost(h.name);
    if (controller) return controller.hostBack(h);
    const i = hostNames.indexOf(h.name);
    for (const p of placement) if (p.host === i) hosts.start(h, { instance: `h${i}-e${p.index}`, index: p.index, group: p.group, experts: p.experts });
  };

  let controller: SimController | undefined;
  if (c.autoscale) {
    controller = new SimController(clock, hosts, gates, c.autoscale.policy, modelExperts(c.model), c.profile.hopMs, c.autoscale.tickMs, c.durationMs);
  }

  clock.runUntil(c.warmupMs);
  const before = hosts.alive.total(c.warmupMs);
  clock.runUntil(c.durationMs);
  return {
    tokensPerS: measures.tokens.mean(Math.floor(c.warmupMs / 1000), Math.floor(c.durationMs / 1000)),
    measures,
    actors: hosts.alive,
    actorSeconds: hosts.alive.total(c.durationMs) - before,
    hostNames,
    busy: hosts.busy,
    changes: controller?.changes ?? [],
    restarts: hosts.counters.restarts,
    lostDispatches: hosts.counters.lostDispatches,
    events: clock.events,
  };
}
