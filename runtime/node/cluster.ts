// Composition root: starts a node's actors (gate, supervisor with expert children) or a whole local cluster, the
// gate's experts chosen here: expert actors over NATS, or in the gate's process (monolithic).
import { availableParallelism, homedir, hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { NatsConnection } from 'nats';
import { ApiFront, type RequestRecord } from '../../actors/api/front.js';
import { ControllerActor } from '../../actors/controller/controller.js';
import type { PolicyConfig } from '../../actors/controller/policy.js';
import { PlacementStore } from '../../actors/protocol/placement-store.js';
import { initialChildren, PlacementFollower } from '../../actors/supervisor/follower.js';
import { RemoteExperts } from '../../actors/gate/remote-experts.js';
import type { WireDtype } from '../transport/codec.js';
import type { GateExperts } from '../../actors/gate/experts.js';
import { GateActor } from '../../actors/gate/gate.js';
import { InProcessExperts } from '../../actors/gate/in-process.js';
import { coreSizedPerActor, parseExpertSpec, place } from '../../actors/supervisor/static-placement.js';
import { SupervisorActor, type ChildSpec } from '../../actors/supervisor/supervisor.js';
import type { SupervisionPolicy } from '../../actors/supervisor/supervision.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { formatExpertKey } from '../../model/expert-key.js';
import { isMoeLayer } from '../../model/families/shape.js';
import { quantizeName, type Quantization } from '../../model/quantize.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { loadRegistry } from '../../observability/metrics.js';
import { serveMetrics, type MetricsServer } from '../../observability/metrics-server.js';
import { startTracing, type TracingHandle } from '../../observability/tracing.js';
import { closeNats, connectNats, type NatsAuth } from '../transport/connection.js';
import { keepNatsServer, type KeptNatsServer } from '../transport/kept-server.js';
import type { NatsServerLostError } from '../transport/errors.js';
import { subjectToken } from '../transport/subjects.js';
import { watchActorLoads } from './actor-loads.js';
import { ActorProcesses } from './actor-processes.js';
import { EXPERT_ENV } from './expert-env.js';
import { prepareSecure, type SecureDeployment } from './secure.js';
import { settingsFromEnv } from './settings.js';

export const DEFAULT_REPLICAS = 2;
/** The placement policy's actor size when none is given (--autoscale); static placements size actors to the cores. */
export const DEFAULT_EXPERTS_PER_ACTOR = 8;

export type Role = 'gate' | 'supervisor' | 'api' | 'controller';

/** The API front's port when none is given (vLLM's). */
export const DEFAULT_HTTP_PORT = 8000;

export interface NodeOptions {
  nats: string;
  modelDir: string;
  /** Model name on the subjects; default: the checkpoint directory's name. */
  model?: string;
  roles: Role[];
  /** Experts this node's supervisor hosts (see parseExpertSpec); default all. */
  experts?: string;
  replicas?: number;
  /** Default: with followPlacement DEFAULT_EXPERTS_PER_ACTOR (the policy's), else about one actor per core (coreSizedPerActor). */
  expertsPerActor?: number;
  node?: string;
  /** Extra environment for expert actors (test knobs such as EAAS_EXPERT_DELAY_MS). */
  expertEnv?: Record<string, string>;
  /** Supervision policy of this node's supervisor (defaults: DEFAULT_SUPERVISION). */
  supervision?: Partial<SupervisionPolicy>;
  /** Called when a supervision group escalates with the `exit` policy. */
  onEscalate?: (reason: string) => void;
  /** The supervisor's first expert actors coming up: `up` of `total` (progress while the node starts). */
  onActorsStarted?: (up: number, total: number) => void;
  /** With `monolithic`, the gate's experts loaded (and quantized) so far, of all. */
  onExpertsLoaded?: (done: number, total: number) => void;
  /** Extra span processors of this process (tests capture spans with them). */
  spanProcessors?: SpanProcessor[];
  /** The API front's port (role api; 0: a free one) and address. */
  httpPort?: number;
  httpHost?: string;
  /** Keys the API front requires (Authorization: Bearer KEY); none: open. */
  apiKeys?: readonly string[];
  /** Each finished HTTP generation request, for the request log. */
  onRequest?: (r: RequestRecord) => void;
  /** This node's credentials and CA in a secure deployment. */
  auth?: NatsAuth;
  /** Each expert actor's own credentials; without it they use the node's. */
  expertAuth?: (instance: string) => Promise<NatsAuth>;
  /** Quantized weights: the expert actors' (told through EAAS_QUANTIZE) or the in-process experts', and with `dense` the gate's. */
  quantization?: Quantization;
  /** How the gate's rows travel to its expert actors and back (`--wire-dtype`); f32 by default. */
  wire?: WireDtype;
  /** The supervisor follows the desired placement in the model's KV bucket (elastic experts; needs JetStream). */
  followPlacement?: boolean;
  /** The controller's policy (role controller). */
  placementPolicy?: PolicyConfig;
  /** Copies of the placement bucket in a JetStream cluster. */
  kvReplicas?: number;
  /** A line for the log: placement changes carried out, the controller's decisions. */
  log?: (line: string) => void;
  /** The gate computes every expert in its own process instead of dispatching rows to expert actors. */
  monolithic?: boolean;
}

export interface RunningNode {
  model: string;
  node: string;
  nc: NatsConnection;
  gate?: GateActor;
  supervisor?: SupervisorActor;
  api?: ApiFront;
  controller?: ControllerActor;
  /** The node's own /metrics endpoint (EAAS_METRICS_PORT). */
  metrics?: MetricsServer;
  stop(): Promise<void>;
}

export const modelName = (dir: string, name?: string) => subjectToken(name ?? basename(resolve(dir)));
export const defaultNodeName = () => `${subjectToken(hostname())}-${process.pid}`;

// Expert actors always run the build: when this module is loaded from source (vitest), use dist/.
const HERE = fileURLToPath(import.meta.url);
const EXPERT_PROCESS = HERE.endsWith('.ts')
  ? join(dirname(HERE), '..', '..', 'dist', 'runtime', 'node', 'expert-process.js')
  : join(dirname(HERE), 'expert-process.js');

/** What an expert process needs in its environment to connect as itself. */
const authEnv = (a: NatsAuth): Record<string, string> => ({ ...(a.creds ? { [EXPERT_ENV.creds]: a.creds } : {}), ...(a.tlsCa ? { [EXPERT_ENV.tlsCa]: a.tlsCa } : {}) });

/**
 * glibc raises its mmap threshold after large frees, so the multi-megabyte buffers ONNX Runtime frees while it
 * loads a session (protobuf copies of the weights, unpacked initializers) stay in the heap: on the bench preset an
 * actor of 32 float32 experts (1.1 GB of weights) sat at 3.1 GB after a decode run, 1.3 GB with the threshold fixed
 * at 4 MB. Below that size a dispatch's buffers stay on the heap (fixed at 128 KB, 32-prompt steps were 4 % slower).
 */
const EXPERT_MALLOC_MMAP_THRESHOLD = String(4 * 1024 * 1024);

/**
 * An expert process's environment: these variables with the node's quantization (or none: an inherited EAAS_QUANTIZE
 * is dropped), and glibc's mmap threshold fixed unless the caller set one.
 */
function expertProcessEnv(vars: NodeJS.ProcessEnv, q: Quantization | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { MALLOC_MMAP_THRESHOLD_: EXPERT_MALLOC_MMAP_THRESHOLD, ...vars };
  if (q) env[EXPERT_ENV.quantize] = quantizeName(q.bits);
  else delete env[EXPERT_ENV.quantize];
  return env;
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  const model = modelName(o.modelDir, o.model);
  const node = subjectToken(o.node ?? defaultNodeName());
  const checkpoint = Checkpoint.open(o.modelDir);
  const c = checkpoint.config;
  // only the gate and the front read text
  const tokenizer = o.roles.some((r) => r === 'gate' || r === 'api') ? Tokenizer.load(o.modelDir) : undefined;
  const tracing: TracingHandle = await startTracing(o.roles.includes('gate') ? 'eaas-gate' : o.roles.includes('supervisor') ? 'eaas-supervisor' : 'eaas-api', { spanProcessors: o.spanProcessors });
  const settings = settingsFromEnv();
  const nc = await connectNats(o.nats, `eaas-${node}`, {}, o.auth);
  let supervisor: SupervisorActor | undefined;
  let gate: GateActor | undefined;
  let api: ApiFront | undefined;
  let controller: ControllerActor | undefined;
  let follower: PlacementFollower | undefined;
  let processes: ActorProcesses | undefined;
  // dense layers (Qwen2-MoE's mlp_only_layers, DeepSeek's first_k_dense_replace) have no experts to host
  const moeKeys = (spec: string) => parseExpertSpec(spec, c.numHiddenLayers, c.numLocalExperts).filter((k) => isMoeLayer(c, k.layer));
  let metrics: MetricsServer | undefined;
  // a supervisor's node shows its actors' load (and the balance over all actors) from their reports
  const unwatch = o.roles.includes('supervisor') ? watchActorLoads(nc, model, node) : undefined;
  try {
    if (o.roles.includes('controller')) {
      controller = await ControllerActor.start({
        nc,
        model,
        id: node,
        experts: moeKeys('*:*'),
        policy: o.placementPolicy,
        tickMs: settings.controllerTickMs,
        leaseMs: settings.leaseMs,
        kvReplicas: o.kvReplicas,
        onDecision: (d) => {
          if (d.action === 'propose') o.log?.(`controller: revision ${d.placement.revision} ${d.reason}: ${d.detail}`);
        },
      });
    }
    if (o.roles.includes('supervisor')) {
      const hosted = moeKeys(o.experts ?? '*:*');
      const replicas = o.replicas ?? DEFAULT_REPLICAS;
      const perActor = o.expertsPerActor ?? (o.followPlacement ? DEFAULT_EXPERTS_PER_ACTOR : coreSizedPerActor(hosted.length, replicas, availableParallelism()));
      const fixed: ChildSpec[] = place(hosted, replicas, perActor).map((a) => ({
        ...a,
        instance: `${node}-e${a.index}`,
      }));
      const store = o.followPlacement ? await PlacementStore.open(nc, model, { create: true, replicas: o.kvReplicas }) : undefined;
      const { revision, children } = initialChildren(node, (await store?.desired())?.record ?? null, fixed);
      // credentials are made before a child first starts (at start, or when a placement change adds it): a restart reuses its instance's
      const actorProcesses = new ActorProcesses(
        EXPERT_PROCESS,
        expertProcessEnv({ ...process.env, ...o.expertEnv, [EXPERT_ENV.nats]: o.nats, [EXPERT_ENV.modelDir]: resolve(o.modelDir), [EXPERT_ENV.model]: model, [EXPERT_ENV.node]: node }, o.quantization),
        settings.spareActors,
        // a spare has no credentials of its own until it is assigned: on a secure cluster it cannot connect to warm up
        o.auth || o.expertAuth ? 0 : settings.spareWarmUp,
      );
      processes = actorProcesses;
      const childAuth = new Map<string, NatsAuth>();
      const prepare = async (specs: { instance: string }[]) => {
        for (const c of specs) if (!childAuth.has(c.instance)) childAuth.set(c.instance, (await o.expertAuth?.(c.instance)) ?? o.auth ?? {});
      };
      await prepare(children);
      supervisor = new SupervisorActor({
        nc,
        model,
        node,
        children,
        hangMs: settings.hangMs,
        policy: o.supervision,
        onEscalate: o.onEscalate,
        onStarted: o.onActorsStarted,
        prepare,
        spawn: (child) =>
          actorProcesses.start({
            [EXPERT_ENV.instance]: child.instance,
            [EXPERT_ENV.experts]: child.experts.map(formatExpertKey).join(','),
            ...authEnv(childAuth.get(child.instance) ?? o.auth ?? {}),
          }),
      });
      await supervisor.start();
      if (store) {
        follower = new PlacementFollower({ nc, model, node, store, supervisor, revision, log: o.log });
        await follower.start();
      }
    }
    if (o.roles.includes('gate')) {
      const experts: GateExperts = o.monolithic
        ? await InProcessExperts.load(checkpoint, model, { threads: settings.ortThreads, bits: o.quantization?.bits, loadWindowMs: settings.loadWindowMs, onLoaded: o.onExpertsLoaded })
        : await RemoteExperts.start(nc, model, c.hiddenSize, {
            timeoutMs: settings.dispatchTimeoutMs,
            noReplicaWaitMs: settings.noReplicaWaitMs,
            discoveryMs: settings.discoveryMs,
            loadWindowMs: settings.loadWindowMs,
            hedge: { enabled: settings.hedge !== 0 },
            wire: o.wire,
          });
      gate = await GateActor.start({
        nc,
        model,
        node,
        checkpoint,
        experts,
        maxBatch: settings.maxBatch,
        maxRequestBytes: settings.maxRequestBytes,
        maxQueued: settings.maxQueued,
        loadReportMs: settings.loadReportMs,
        pulseMs: settings.pulseMs,
        threads: settings.ortThreads,
        denseBits: o.quantization?.dense ? o.quantization.bits : undefined,
        tokenizer,
      });
    }
    if (o.roles.includes('api')) {
      api = await ApiFront.start({
        nc,
        model,
        tokenizer,
        vocabSize: c.vocabSize,
        maxModelLen: c.maxPositionEmbeddings,
        host: o.httpHost,
        port: o.httpPort ?? DEFAULT_HTTP_PORT,
        maxInflight: settings.apiMaxInflight,
        generateTimeoutMs: settings.generateTimeoutMs,
        apiKeys: o.apiKeys,
        onRequest: o.onRequest,
        dims: { layers: c.numHiddenLayers, experts: c.numLocalExperts },
      });
    }
    if (settings.metricsPort !== undefined) metrics = await serveMetrics(loadRegistry, settings.metricsPort, o.httpHost);
  } catch (err) {
    await controller?.stop();
    await follower?.stop();
    unwatch?.();
    await api?.stop();
    await gate?.stop();
    // spares first: an actor stopping would otherwise boot a new one
    processes?.stop();
    await supervisor?.stop();
    await closeNats(nc);
    await tracing.shutdown();
    throw err;
  } finally {
    checkpoint.close();
  }
  return {
    model,
    node,
    nc,
    gate,
    supervisor,
    api,
    controller,
    metrics,
    async stop() {
      await controller?.stop();
      await follower?.stop();
      await metrics?.stop();
      unwatch?.();
      await api?.stop();
      await gate?.stop();
      processes?.stop();
      await supervisor?.stop();
      await closeNats(nc);
      await tracing.shutdown();
    },
  };
}

/** The model `eaas up` and `eaas eval` serve when no --model is given: the small MoE trained by ops/train/ and shipped here. */
export function shippedModelDir(): string {
  return join(dirname(HERE), '..', '..', ...(HERE.endsWith('.ts') ? [] : ['..']), 'model', 'checkpoints', 'sotu-moe');
}

/** Where `eaas up --secure` keeps its CA, keys and credentials unless --state says otherwise. */
export function defaultStateDir(): string {
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'eaas', 'secure');
}

export interface LocalClusterOptions extends Omit<NodeOptions, 'nats' | 'roles' | 'modelDir'> {
  modelDir?: string;
  /** Use this NATS instead of starting one. */
  nats?: string;
  natsPort?: number;
  /** Embedded nats-servers in a route cluster (default 1). */
  clusterSize?: number;
  /** A secure deployment (TLS, credentials per role, least privilege) with its state in this directory. */
  secureStateDir?: string;
  /** Elastic experts: the embedded servers run JetStream, a controller decides the placement with this policy and the supervisor follows it. */
  autoscale?: PolicyConfig;
  /** The embedded server died and is being restarted (a line for the log). */
  onServerRestart?: (why: string) => void;
  /** The embedded server died and cannot be kept running: serving has stopped. */
  onServerLost?: (err: NatsServerLostError) => void;
}

export interface LocalCluster extends RunningNode {
  url: string;
  server?: KeptNatsServer;
  secure?: SecureDeployment;
}

/**
 * Everything on this machine: an embedded nats-server kept running (unless one is given), a supervisor with its
 * experts and a gate (`monolithic`: a gate with the experts in its process, no supervisor), and with `httpPort` an API front.
 */
export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const modelDir = o.modelDir ?? shippedModelDir();
  const model = modelName(modelDir, o.model);
  const secure = o.secureStateDir ? await prepareSecure(o.secureStateDir, model) : undefined;
  const server = o.nats
    ? undefined
    : await keepNatsServer({
        servers: o.clusterSize,
        port: o.natsPort,
        secure: secure && { tls: secure.tls, auth: secure.serverAuth },
        probe: secure?.probe,
        jetstream: o.autoscale !== undefined,
        onRestart: o.onServerRestart,
        onLost: o.onServerLost ?? ((err) => process.stderr.write(`eaas: ${err.message}\n`)),
      });
  const url = o.nats ?? server!.url;
  try {
    const nodeName = subjectToken(o.node ?? defaultNodeName());
    const node = await startNode({
      ...o,
      modelDir,
      node: nodeName,
      nats: url,
      roles: [...(o.autoscale ? ['controller' as const] : []), ...(o.monolithic ? [] : ['supervisor' as const]), 'gate', ...(o.httpPort === undefined ? [] : ['api' as const])],
      followPlacement: o.autoscale !== undefined,
      placementPolicy: o.autoscale,
      kvReplicas: o.autoscale && Math.min(3, o.clusterSize ?? 1),
      auth: secure ? await secure.nodeAuth(model, nodeName, o.autoscale !== undefined) : o.auth,
      expertAuth: secure ? (instance) => secure.expertAuth(model, nodeName, instance) : o.expertAuth,
    });
    return {
      ...node,
      url,
      server,
      secure,
      async stop() {
        await node.stop();
        await server?.stop();
      },
    };
  } catch (err) {
    await server?.stop();
    throw err;
  }
}
