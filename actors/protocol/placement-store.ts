// The elastic placement's shared state in a JetStream KV bucket: the desired placement the controller writes,
// what each supervisor runs, the controller's own record, and the controller lease. Values are JSON, so
// `nats kv get` shows them as they are.
import type { KV, KvEntry, NatsConnection } from 'nats';
import { PlacementStoreError } from './errors.js';
import type { LatencyBins } from '../../observability/load-window.js';

/** One bucket per model: `eaas_placement_<model>` (model names are subject tokens, which KV bucket names accept). */
export const placementBucket = (model: string) => `eaas_placement_${model}`;

const DESIRED = 'desired';
const CONTROLLER = 'controller';
const LEASE = 'lease';
const ACTUAL_PREFIX = 'actual.';

/** The keys only a controller writes (the permissions of a secure deployment say so). */
export const PLACEMENT_CONTROLLER_KEYS = [DESIRED, CONTROLLER, LEASE] as const;
/** The key of one node's `actual` record. */
export const actualKey = (node: string) => ACTUAL_PREFIX + node;

/** One expert actor of a placement. `experts` are `layer:expert` ids; `node` is the supervisor that runs it, under the name `instance`. */
export interface PlacementActor {
  index: number;
  group: number;
  node: string;
  instance: string;
  experts: string[];
}

/** What the controller wants running, with why. */
export interface DesiredRecord {
  revision: number;
  actors: PlacementActor[];
  reason: string;
  detail: string;
  at: number;
}

/** What one supervisor runs, and the highest desired revision it has carried out. Rewritten every `ACTUAL_REFRESH_MS`. */
export interface ActualRecord {
  node: string;
  revision: number;
  actors: { index: number; group: number; instance: string; experts: string[] }[];
  at: number;
}

/** One supervisor's record with its key's revision, which moves at every rewrite (node liveness reads that, not `at`). */
export interface ActualEntry {
  record: ActualRecord;
  revision: number;
}

/** Supervisors rewrite their record this often; a key that has not moved for 3 of these is a node gone. */
export const ACTUAL_REFRESH_MS = 5_000;
export const ACTUAL_STALE_MS = 3 * ACTUAL_REFRESH_MS;

/** The controller's last decision and what it saw (for `eaas placement`), and its policy state (a standby resumes from it). */
export interface ControllerRecord {
  leader: string;
  at: number;
  decision: { action: 'keep' | 'propose'; reason: string; detail: string; at: number };
  lastChange: { revision: number; reason: string; detail: string; at: number; durationMs?: number } | null;
  /** `itlP99Ms` absent in a record an older controller wrote. */
  observed: { meanBusy: number | null; itlP99Ms?: number | null; actors: number; balancedness: number; proposedBalancedness: number | null };
  load: { windowMs: number; experts: { layer: number; expert: number; tokens: number }[]; actors: { instance: string; busy: number }[]; itl?: LatencyBins };
  /** The policy's own state, opaque here. */
  state: unknown;
}

/** Who holds the controller lease; renewed by rewriting it, so its revision moves while the holder lives. */
export interface LeaseRecord {
  holder: string;
  at: number;
}

const json = new TextEncoder();
const text = new TextDecoder();

function parse<T>(e: KvEntry | null, key: string, check: (v: Record<string, unknown>) => boolean): T | null {
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
  let v: unknown;
  try {
    v = JSON.parse(text.decode(e.value));
  } catch {
    throw new PlacementStoreError(`placement key ${key} does not hold JSON`);
  }
  if (typeof v !== 'object' || v === null || !check(v as Record<string, unknown>)) throw new PlacementStoreError(`placement key ${key} holds a malformed record`);
  return v as T;
}

const isDesired = (v: Record<string, unknown>) => Number.isInteger(v.revision) && Array.isArray(v.actors);
const isActual = (v: Record<string, unknown>) => typeof v.node === 'string' && Number.isInteger(v.revision) && Array.isArray(v.actors);

export interface StoreOptions {
  /** Make the bucket when it is missing (controllers and following supervisors do; readers such as `eaas placement` don't). */
  create?: boolean;
  /** Copies of the bucket in a JetStream cluster; absent: 3 where the cluster has room for them, else 1. */
  replicas?: number;
}

/** Typed access to one model's placement bucket. */
export class PlacementStore {
  private constructor(readonly kv: KV) {}

  static async open(nc: NatsConnection, model: string, o: StoreOptions = {}): Promise<PlacementStore> {
    const bucket = placementBucket(model);
    const js = nc.jetstream();
    const deadline = Date.now() + JETSTREAM_READY_MS;
    for (;;) {
      try {
        const kv = o.create ? await createBucket(js, bucket, o.replicas) : await js.views.kv(bucket, { bindOnly: true });
        // binding does not look: a reader asks for the bucket's status so a missing one is said here
        if (!o.create) await kv.status();
        return new PlacementStore(kv);
      } catch (cause) {
        // a JetStream cluster that just formed has no meta leader yet: its API times out or says it is unavailable
        if (!notReadyYet(cause) || Date.now() > deadline) throw openError(cause, bucket, model, o.create === true);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }


  async desired(): Promise<{ record: DesiredRecord; revision: number } | null> {
    const e = await this.kv.get(DESIRED);
    const record = parse<DesiredRecord>(e, DESIRED, isDesired);
    return record && { record, revision: e!.revision };
  }

  /** Writes a new desired placement only if the key is still at `expected` (0: absent), so two controllers cannot both write. */
  async writeDesired(d: DesiredRecord, expected: number): Promise<number> {
    const bytes = json.encode(JSON.stringify(d));
    return expected === 0 ? this.kv.create(DESIRED, bytes) : this.kv.update(DESIRED, bytes, expected);
  }

  /** Every desired placement as it is written (the current one first). Ends when the store's connection closes or `signal` aborts. */
  async *watchDesired(signal?: AbortSignal): AsyncIterable<DesiredRecord> {
    const it = await this.kv.watch({ key: DESIRED });
    signal?.addEventListener('abort', () => it.stop(), { once: true });
    for await (const e of it) {
      const d = parse<DesiredRecord>(e, DESIRED, isDesired);
      if (d) yield d;
    }
  }

  async writeActual(a: ActualRecord): Promise<void> {
    await this.kv.put(actualKey(a.node), json.encode(JSON.stringify(a)));
  }

  /** Every supervisor's record, fresh or not, with its key's revision. */
  async actuals(): Promise<ActualEntry[]> {
    const out: ActualEntry[] = [];
    for await (const key of await this.kv.keys(`${ACTUAL_PREFIX}>`)) {
      const e = await this.kv.get(key);
      const record = parse<ActualRecord>(e, key, isActual);
      if (record) out.push({ record, revision: e!.revision });
    }
    return out.sort((x, y) => x.record.node.localeCompare(y.record.node));
  }

  async writeController(c: ControllerRecord): Promise<void> {
    await this.kv.put(CONTROLLER, json.encode(JSON.stringify(c)));
  }

  async controller(): Promise<ControllerRecord | null> {
    return parse<ControllerRecord>(await this.kv.get(CONTROLLER), CONTROLLER, (v) => typeof v.leader === 'string');
  }

  async lease(): Promise<{ record: LeaseRecord; revision: number } | null> {
    const e = await this.kv.get(LEASE);
    const record = parse<LeaseRecord>(e, LEASE, (v) => typeof v.holder === 'string');
    return record && { record, revision: e!.revision };
  }

  /** Takes or renews the lease if it is still at `expected` (0: nobody has it); the new revision, or null when someone else moved it. */
  async claimLease(holder: string, expected: number): Promise<number | null> {
    const bytes = json.encode(JSON.stringify({ holder, at: Date.now() } satisfies LeaseRecord));
    try {
      return expected === 0 ? await this.kv.create(LEASE, bytes) : await this.kv.update(LEASE, bytes, expected);
    } catch (err) {
      if (isWrongRevision(err)) return null;
      throw err;
    }
  }
}

/** Copies of the bucket when none are asked for: as many as a JetStream cluster of 3 or more keeps, else 1. */
const DEFAULT_REPLICAS = 3;

/**
 * Makes (or binds to) the bucket with `replicas` copies, or when none are asked for with as many as the JetStream
 * cluster allows: 3, or 1 on a single server (JetStream says "replicas > 1 not supported in non-clustered mode")
 * or a cluster of fewer servers ("insufficient resources").
 */
async function createBucket(js: ReturnType<NatsConnection['jetstream']>, bucket: string, replicas?: number): Promise<KV> {
  if (replicas !== undefined) return js.views.kv(bucket, { history: 1, replicas });
  try {
    return await js.views.kv(bucket, { history: 1, replicas: DEFAULT_REPLICAS });
  } catch (err) {
    if (!/replicas > 1 not supported|insufficient resources/i.test((err as Error).message ?? '')) throw err;
    return js.views.kv(bucket, { history: 1, replicas: 1 });
  }
}

/** How long opening the bucket waits for a JetStream cluster that just formed to elect its meta leader. */
const JETSTREAM_READY_MS = 30_000;

const notReadyYet = (err: unknown) => (err as { code?: string }).code === 'TIMEOUT' || /temporarily unavailable/i.test((err as Error).message ?? '');

function openError(cause: unknown, bucket: string, model: string, create: boolean): PlacementStoreError {
  if ((cause as { code?: string }).code === '503') return new PlacementStoreError(`the NATS server has no JetStream: the elastic placement lives in the KV bucket ${bucket} (run nats-server with JetStream, e.g. -js)`, { cause });
  if (!create && /not found/i.test((cause as Error).message)) return new PlacementStoreError(`model ${model} has no placement bucket ${bucket}: is it served with --autoscale?`, { cause });
  return new PlacementStoreError(`the placement bucket ${bucket} cannot be opened: ${(cause as Error).message}`, { cause });
}

/** JetStream's answer to a compare-and-set that lost: `wrong last sequence` (10071), or `key exists` from create. */
export function isWrongRevision(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /wrong last sequence|key exists/i.test(m) || (err as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071;
}
