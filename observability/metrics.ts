// The load signal as Prometheus metrics (issue 9), in one registry per process that every /metrics of the
// process serves: named as vLLM's under `eaas:`, with a model_name label, like the API front's.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const loadRegistry = new Registry();
// the process's own: CPU, memory, heap, GC, event-loop lag, handles (prom-client's defaults, as every Node exporter shows)
collectDefaultMetrics({ register: loadRegistry });

/** One expert actor's load over its window, as a node heard it. */
export interface ActorLoadView {
  actor: string;
  node: string;
  /** The share of the window its worker computed, 0..1. */
  busy: number;
  /** Rows it computed in the window. */
  rows: number;
}

/** What a node heard of its model's actors; read at scrape time, so actors gone from it leave the metrics. */
export interface ActorLoadSource {
  model: string;
  /** This node: only its own actors get per-actor series, so two nodes never show the same actor. */
  node: string;
  actors(): ActorLoadView[];
}

const sources = new Set<ActorLoadSource>();

/** Shows a source's actors in the metrics until the returned function is called. */
export function showActorLoads(source: ActorLoadSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

/** vLLM's eplb_balancedness with actors for ranks: the mean over actors of the rows each computed ÷ the max; 1 when none computed any. */
export function balancedness(rows: number[]): number {
  const max = Math.max(0, ...rows);
  return max === 0 ? 1 : rows.reduce((a, b) => a + b, 0) / rows.length / max;
}

const registers = [loadRegistry];

const tokens = new Counter({ name: 'eaas:expert_tokens_total', help: 'Tokens the gates of this process routed to each expert (a token counts once per expert it goes to).', labelNames: ['model_name', 'layer', 'expert'], registers });

/** Per-actor series of this node's actors, set from the sources at every scrape. */
function actorGauge(name: string, help: string, value: (a: ActorLoadView) => number): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: ['model_name', 'actor'],
    registers,
    collect() {
      this.reset();
      for (const s of sources) for (const a of s.actors()) if (a.node === s.node) this.set({ model_name: s.model, actor: a.actor }, value(a));
    },
  });
}

actorGauge('eaas:expert_actor_busy_fraction', "The share of the load window an expert actor's worker spent computing dispatches.", (a) => a.busy);
actorGauge('eaas:expert_actor_rows', 'Rows an expert actor computed over the load window.', (a) => a.rows);

new Gauge({
  name: 'eaas:eplb_balancedness',
  help: 'Mean ÷ max of the rows each expert actor of the model computed over the load window (1: perfectly balanced).',
  labelNames: ['model_name'],
  registers,
  collect() {
    this.reset();
    for (const s of sources) this.set({ model_name: s.model }, balancedness(s.actors().map((a) => a.rows)));
  },
});

const rebalances = new Counter({ name: 'eaas:rebalances_total', help: 'Placement changes carried out, by the reason the policy gave.', labelNames: ['model_name', 'reason'], registers });
const rebalanceSeconds = new Histogram({
  name: 'eaas:rebalance_duration_seconds',
  help: 'Time a placement change took, from proposal to the new placement serving.',
  labelNames: ['model_name'],
  buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
  registers,
});

/** A gate routed `rows` tokens of a layer step to `expert` of `layer`. */
export function countRouted(model: string, layer: number, expert: number, rows: number): void {
  tokens.inc({ model_name: model, layer: String(layer), expert: String(expert) }, rows);
}

/** The placement controller carried out a change (scale-up, scale-down, rebalance, repair) in `seconds`. */
export function recordRebalance(model: string, seconds: number, reason: string): void {
  rebalances.inc({ model_name: model, reason });
  rebalanceSeconds.observe({ model_name: model }, seconds);
}

/** What one gate's engine holds now; read at scrape time. */
export interface GateEngineSource {
  model: string;
  node: string;
  running(): number;
  waiting(): number;
  /** Positions held in KV caches, and what a full batch of full-length sequences would hold. */
  kvCache(): { positions: number; capacity: number };
}

const gates = new Set<GateEngineSource>();

/** Shows a gate's engine in the metrics until the returned function is called. */
export function showGateEngine(source: GateEngineSource): () => void {
  gates.add(source);
  return () => gates.delete(source);
}

function gateGauge(name: string, help: string, value: (g: GateEngineSource) => number): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: ['model_name', 'node'],
    registers,
    collect() {
      this.reset();
      for (const g of gates) this.set({ model_name: g.model, node: g.node }, value(g));
    },
  });
}

gateGauge('eaas:gate_num_requests_running', "Sequences in a gate's running batch (vLLM's num_requests_running, seen from the engine).", (g) => g.running());
gateGauge('eaas:gate_num_requests_waiting', "Sequences waiting for room in a gate's batch.", (g) => g.waiting());
gateGauge('eaas:kv_cache_usage_perc', "Share of a gate's KV cache room in use: positions held ÷ (max batch × the model's positions), 0..1 (vLLM's name).", (g) => {
  const { positions, capacity } = g.kvCache();
  return capacity > 0 ? positions / capacity : 0;
});

const queueTime = new Histogram({
  name: 'eaas:request_queue_time_seconds',
  help: "Time a sequence waited in a gate before its first forward step (vLLM's name and buckets).",
  labelNames: ['model_name'],
  buckets: [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0],
  registers,
});

/** A sequence joined a gate's running batch after waiting `seconds`. */
export function observeQueueTime(model: string, seconds: number): void {
  queueTime.observe({ model_name: model }, seconds);
}
