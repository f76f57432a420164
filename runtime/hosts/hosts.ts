// Hosts on one machine: each its own network namespace with its own nats-server, routed into one cluster through
// delay relays (a link's latency), and an `eaas node` (gate and front, or a supervisor with its share of experts).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dieWithParent, startNatsServer, type NatsServerHandle } from '../transport/nats-server.js';
import { DelayRelay } from './delay-relay.js';
import { HostStartError } from './errors.js';
import { HostNetwork, inNamespace, type LinkShape, type NetworkHost } from './network.js';

const HERE = fileURLToPath(import.meta.url);
// from the sources (tests run them), the built CLI
const CLI = HERE.endsWith('.ts') ? join(dirname(HERE), '..', '..', 'dist', 'runtime', 'cli', 'main.js') : join(dirname(HERE), '..', 'cli', 'main.js');
/** Every host is its own machine: the same ports on each. */
const CLIENT_PORT = 4222;
const ROUTE_PORT = 6222;
const NODE_READY = / ready: /;
/** A real-size model's share takes minutes to load on a small machine. */
const DEFAULT_READY_TIMEOUT_MS = 900_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_LINES = 20;

export interface HostSpec {
  name: string;
  /** `eaas node` flags for this host, without --nats (the host's own server); none: a host with only its server. */
  node?: string[];
  /** It runs a gate: started after the others, so that it finds their actors at once. */
  gate?: boolean;
}

export interface HostsOptions {
  hosts: HostSpec[];
  link: LinkShape;
  /** How long a node may take to say it is ready. */
  readyTimeoutMs?: number;
}

export interface RunningHost extends NetworkHost {
  /** The host's nats-server, as its own processes and other hosts reach it. */
  natsUrl: string;
  /** The node's ready line (`eaas node NAME ready: ...`), when the host runs one. */
  ready?: string;
}

export class Hosts {
  private constructor(
    readonly network: HostNetwork,
    readonly hosts: RunningHost[],
    private readonly servers: Map<string, NatsServerHandle>,
    private readonly nodes: Map<string, ChildProcess>,
    private readonly relays: DelayRelay[],
  ) {}

  static async start(o: HostsOptions): Promise<Hosts> {
    const network = await HostNetwork.create(o.hosts.map((h) => h.name), o.link);
    const servers = new Map<string, NatsServerHandle>();
    const nodes = new Map<string, ChildProcess>();
    const relays: DelayRelay[] = [];
    const hosts: RunningHost[] = network.hosts.map((h) => ({ ...h, natsUrl: `nats://${h.ip}:${CLIENT_PORT}` }));
    const started = new Hosts(network, hosts, servers, nodes, relays);
    try {
      // every route goes through the relay in front of its host, so each hop between two hosts costs the link's delay
      for (const h of hosts) relays.push(await DelayRelay.start(network.switchIp, { host: h.ip, port: ROUTE_PORT }, o.link.delayMs));
      const routeOf = (i: number) => `nats-route://${relays[i]!.host}:${relays[i]!.port}`;
      const clusterName = `eaas-hosts-${network.tag}`;
      // all settled before anything is stopped: a server still starting when another failed would outlive stop()
      const starts = await Promise.allSettled(
        hosts.map(async (h, i) => {
          const server = await startNatsServer({
            host: h.ip,
            port: CLIENT_PORT,
            clusterName,
            serverName: h.name,
            clusterPort: ROUTE_PORT,
            routes: hosts.flatMap((_, j) => (j === i ? [] : [routeOf(j)])),
            advertiseRoute: `${relays[i]!.host}:${relays[i]!.port}`,
            launcher: (command, args) => inNamespace(h, command, args),
          });
          servers.set(h.name, server);
        }),
      );
      const failed = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      // the other hosts first (together), then the gates
      const readyMs = o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
      const start = async (specs: HostSpec[]) => {
        const ready = await Promise.allSettled(
          specs.map(async (spec) => {
            const h = hosts.find((x) => x.name === spec.name)!;
            h.ready = await started.startNode(h, spec.node!, readyMs);
          }),
        );
        const failed = ready.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      };
      await start(o.hosts.filter((h) => h.node && !h.gate));
      await start(o.hosts.filter((h) => h.node && h.gate));
    } catch (err) {
      await started.stop();
      throw err;
    }
    return started;
  }

  host(name: string): RunningHost {
    this.network.host(name);
    return this.hosts.find((h) => h.name === name)!;
  }

  /** Bytes that crossed the links between hosts so far (every route passes one relay), both ways. */
  get wireBytes(): number {
    return this.relays.reduce((n, r) => n + r.bytes, 0);
  }

  /** The host's cable out (see HostNetwork.pull). */
  pull(name: string): Promise<void> {
    return this.network.pull(name);
  }

  restore(name: string): Promise<void> {
    return this.network.restore(name);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((child) => stopChild(child)));
    await Promise.all([...this.servers.values()].map((s) => s.stop()));
    await Promise.all(this.relays.map((r) => r.stop()));
    await this.network.destroy();
  }

  private startNode(h: RunningHost, flags: string[], timeoutMs: number): Promise<string> {
    const [command, args] = inNamespace(h, ...dieWithParent(process.execPath, [CLI, 'node', '--nats', h.natsUrl, ...flags]));
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.nodes.set(h.name, child);
    const tail: string[] = [];
    const keep = (chunk: Buffer) => {
      tail.push(...chunk.toString('utf8').trimEnd().split('\n'));
      tail.splice(0, Math.max(0, tail.length - OUTPUT_TAIL_LINES));
    };
    child.stderr!.on('data', keep);
    return new Promise((resolve, reject) => {
      let out = '';
      const fail = (problem: string) => {
        done();
        reject(new HostStartError(`host ${h.name}: eaas node ${problem}${tail.length ? `; its last output:\n${tail.join('\n')}` : ''}`));
      };
      const onOut = (chunk: Buffer) => {
        keep(chunk);
        out += chunk.toString('utf8');
        const line = out.split('\n').find((l) => NODE_READY.test(l));
        if (line === undefined) return;
        done();
        // still drained: a full pipe would block the node
        child.stdout!.on('data', keep);
        resolve(line);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
      const onError = (err: Error) => fail(`could not be started: ${err.message}`);
      const timer = setTimeout(() => fail(`not ready after ${timeoutMs / 1000} s`), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        child.stdout!.off('data', onOut);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.stdout!.on('data', onOut);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  // never started (spawn failed), or gone already
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(escalate);
}
