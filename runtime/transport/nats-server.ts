// Runs real nats-server child processes (one server or a routed cluster) for nodes and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { authConfig, type ServerAuth } from './auth.js';
import { NatsClusterError, NatsServerMissingError, NatsServerStartError } from './errors.js';
import type { TlsFiles } from './tls.js';
import { connect, nuid, type ConnectionOptions, type NatsConnection } from 'nats';

export interface NatsServerOptions {
  /** Client port; a free one chosen by the server when absent. */
  port?: number;
  maxPayload?: number;
  clusterName?: string;
  /** Route port; a free one chosen by the server when absent but a cluster is asked for. */
  clusterPort?: number;
  /** Route URLs of other cluster members, e.g. `nats-route://127.0.0.1:6222`. */
  routes?: string[];
  serverName?: string;
  /** TLS on client and route ports, and decentralised auth (operator, accounts): clients need a `.creds` file. */
  secure?: { tls: TlsFiles; auth: ServerAuth };
  /** The address the client and route ports listen on (and the URL names); loopback when absent. */
  host?: string;
  /** The route address this server tells the others about (a relay in front of it, say); its own when absent. */
  advertiseRoute?: string;
  /** Wraps the server's command line, e.g. to run it in another network namespace (the pid stays the server's). */
  launcher?: (command: string, args: string[]) => [string, string[]];
  /** JetStream (KV buckets: the elastic placement) with its state in this directory, kept across restarts by the caller. */
  jetstream?: { storeDir: string };
}

export interface NatsServerHandle {
  url: string;
  port: number;
  pid: number;
  /** Set when the server listens for routes. */
  clusterPort?: number;
  /** SIGTERM, then SIGKILL if it lingers; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Sends a raw signal (chaos tests: SIGKILL, SIGSTOP, SIGCONT). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the server process has exited, for whatever reason. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface NatsCluster {
  clusterName: string;
  servers: NatsServerHandle[];
  urls: string[];
  stop(): Promise<void>;
}




/** 8 MB: the largest payload nats-server takes without warning; the stock 1 MB is too small for big batches. */
export const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
/** A client may have this many full payloads queued before the server calls it a slow consumer. */
export const PENDING_PAYLOADS_PER_CLIENT = 16;
export const START_TIMEOUT_MS = 10_000;
export const STOP_TIMEOUT_MS = 5_000;
/** Routes retry once a second, so a cluster needs a few seconds to mesh. */
export const CLUSTER_FORM_TIMEOUT_MS = 15_000;

const LOOPBACK = '127.0.0.1';
const RANDOM_PORT = -1;
const BINARY = 'nats-server';
// Debian installs to /usr/sbin, which is not on every user's PATH.
const EXTRA_BINARY_DIRS = ['/usr/sbin', '/usr/local/bin'];
const STDERR_TAIL_LINES = 20;
const SETPRIV_DIRS = ['/usr/bin', '/bin'];
const PROBE_INTERVAL_MS = 100;

const READY_LINE = 'Server is ready';
const CLIENT_LISTEN_LINE = /Listening for client connections on [^\s]+:(\d+)/;
const ROUTE_LISTEN_LINE = /Listening for route connections on [^\s]+:(\d+)/;

// Servers still running when this process exits are killed, so a crashed test leaves none behind.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts one nats-server (on loopback unless `host` says) and resolves once it accepts clients (and routes, if clustered). */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'eaas-nats-'));
  const configFile = join(dir, 'nats-server.conf');
  await writeFile(configFile, renderConfig(opts));

  const [command, args] = (opts.launcher ?? ((c, a) => [c, a]))(...dieWithParent(binary, ['-c', configFile]));
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      const done = () => resolve({ code, signal });
      rm(dir, { recursive: true, force: true }).then(done, done);
    });
  });

  const ports = await waitUntilReady(child, wantsCluster(opts));
  const pid = child.pid!;
  return {
    url: `nats://${opts.host ?? LOOPBACK}:${ports.client}`,
    port: ports.client,
    pid,
    clusterPort: ports.cluster,
    exited,
    kill: (signal) => {
      child.kill(signal);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // A server paused by SIGSTOP only sees the SIGTERM once it runs again.
        child.kill('SIGCONT');
        const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(escalate);
      }
      await exited;
    },
  };
}

/**
 * Starts `n` servers routed into one cluster (all route to the first, gossip completes the mesh)
 * and resolves once a message published on any server reaches subscribers on every server.
 */
export async function startNatsCluster(
  n: number,
  o: { secure?: NatsServerOptions['secure']; probe?: Partial<ConnectionOptions>; jetstreamDirs?: string[] } = {},
): Promise<NatsCluster> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`cluster size must be a positive integer, got ${n}`);
  const clusterName = `eaas-${nuid.next().slice(-8).toLowerCase()}`;
  const servers: NatsServerHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const jetstream = (i: number) => (o.jetstreamDirs ? { storeDir: o.jetstreamDirs[i] } : undefined);
    // JetStream in a cluster wants routes configured on every server: the seed is given one to itself (ignored)
    const seedPort = o.jetstreamDirs ? await freePort() : undefined;
    const seedRoutes = seedPort === undefined ? undefined : [`nats-route://${LOOPBACK}:${seedPort}`];
    const seed = await startNatsServer({ clusterName, serverName: `${clusterName}-0`, secure: o.secure, jetstream: jetstream(0), clusterPort: seedPort, routes: seedRoutes });
    servers.push(seed);
    const rest = await Promise.allSettled(
      Array.from({ length: n - 1 }, (_, i) =>
        startNatsServer({
          secure: o.secure,
          clusterName,
          serverName: `${clusterName}-${i + 1}`,
          routes: [`nats-route://${LOOPBACK}:${seed.clusterPort}`],
          jetstream: jetstream(i + 1),
        }),
      ),
    );
    for (const r of rest) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await awaitFullMesh(servers.map((s) => s.url), o.probe);
  } catch (err) {
    await stop();
    throw err;
  }
  return { clusterName, servers, urls: servers.map((s) => s.url), stop };
}

/** A loopback port free right now (the OS picks it; a race with other processes is possible but unlikely). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function findNatsServer(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_BINARY_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, BINARY);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  throw new NatsServerMissingError();
}

/**
 * The command that runs `binary` so that it gets SIGTERM when this process dies, even by SIGKILL
 * (util-linux `setpriv --pdeathsig`, which execs: the pid stays the server's): no orphan keeps the port.
 */
export function dieWithParent(binary: string, args: string[]): [string, string[]] {
  for (const dir of SETPRIV_DIRS) {
    const setpriv = join(dir, 'setpriv');
    try {
      accessSync(setpriv, fsConstants.X_OK);
      return [setpriv, ['--pdeathsig', 'TERM', binary, ...args]];
    } catch {
      // not here
    }
  }
  return [binary, args];
}

function wantsCluster(opts: NatsServerOptions): boolean {
  return opts.clusterName !== undefined || opts.clusterPort !== undefined || (opts.routes?.length ?? 0) > 0;
}

/** The configuration file a server of `opts` runs with (tests check it with `nats-server -t`). */
export function renderConfig(opts: NatsServerOptions): string {
  const maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const lines = [
    `host: ${JSON.stringify(opts.host ?? LOOPBACK)}`,
    `port: ${opts.port ?? RANDOM_PORT}`,
    `max_payload: ${maxPayload}`,
    `max_pending: ${maxPayload * PENDING_PAYLOADS_PER_CLIENT}`,
  ];
  if (opts.serverName !== undefined) lines.push(`server_name: ${JSON.stringify(opts.serverName)}`);
  if (opts.jetstream) lines.push(`jetstream { store_dir: ${JSON.stringify(opts.jetstream.storeDir)} }`);
  const tls = opts.secure ? tlsBlock(opts.secure.tls) : [];
  if (opts.secure) lines.push(...tls, authConfig(opts.secure.auth).trimEnd());
  if (wantsCluster(opts)) {
    lines.push('cluster {');
    if (opts.clusterName !== undefined) lines.push(`  name: ${JSON.stringify(opts.clusterName)}`);
    lines.push(`  host: ${JSON.stringify(opts.host ?? LOOPBACK)}`, `  port: ${opts.clusterPort ?? RANDOM_PORT}`);
    // and clients are told of no other server: one that reconnected elsewhere would go around the relay
    if (opts.advertiseRoute !== undefined) lines.push(`  advertise: ${JSON.stringify(opts.advertiseRoute)}`, '  no_advertise: true');
    if (opts.routes?.length) lines.push(`  routes: [${opts.routes.map((r) => JSON.stringify(r)).join(', ')}]`);
    lines.push(...tls.map((l) => `  ${l}`), '}');
  }
  return lines.join('\n') + '\n';
}

/** TLS with our CA: the server presents its certificate; peers (other servers on routes) must present one too. */
function tlsBlock(t: TlsFiles): string[] {
  return ['tls {', `  cert_file: ${JSON.stringify(t.cert)}`, `  key_file: ${JSON.stringify(t.key)}`, `  ca_file: ${JSON.stringify(t.ca)}`, '  timeout: 5', '}'];
}

function trackChild(child: ChildProcess): void {
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/** Reads the server's log until it is ready; the ports come from the log because we let it pick them. */
function waitUntilReady(child: ChildProcess, cluster: boolean): Promise<{ client: number; cluster?: number }> {
  const tail: string[] = [];
  let partial = '';
  let ready = false;
  let clientPort: number | undefined;
  let routePort: number | undefined;

  return new Promise((resolve, reject) => {
    const fail = (problem: string, cause?: unknown): void => {
      cleanup();
      child.kill('SIGKILL');
      reject(new NatsServerStartError(problem, tail, { cause }));
    };
    const onData = (chunk: Buffer): void => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > STDERR_TAIL_LINES) tail.shift();
        ready ||= line.includes(READY_LINE);
        clientPort ??= matchPort(CLIENT_LISTEN_LINE, line);
        routePort ??= matchPort(ROUTE_LISTEN_LINE, line);
      }
      // "ready" is logged before the route listener starts, so a cluster member waits for both.
      if (ready && clientPort !== undefined && (!cluster || routePort !== undefined)) {
        cleanup();
        // Keep draining stderr: a full pipe would block the server.
        child.stderr?.resume();
        resolve({ client: clientPort, cluster: routePort });
      }
    };
    const onError = (err: Error): void => fail(`cannot run it: ${err.message}`, err);
    // 'close' rather than 'exit': it comes after stderr is drained, so the tail is complete.
    const onClose = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`it exited early (${signal ?? `code ${code}`})`);
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('close', onClose);
    };
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('close', onClose);
  });
}

function matchPort(pattern: RegExp, line: string): number | undefined {
  const m = pattern.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Every server subscribes and publishes its index until each has heard all of them. */
async function awaitFullMesh(urls: string[], probe: Partial<ConnectionOptions> = {}): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    for (const url of urls) conns.push(await connect({ servers: url, name: 'eaas-cluster-probe', reconnect: false, ...probe }));
    const subject = `_EAAS.cluster_probe.${nuid.next()}`;
    const heard = conns.map(() => new Set<string>());
    conns.forEach((nc, i) => nc.subscribe(subject, { callback: (_err, msg) => heard[i]!.add(msg.string()) }));
    await Promise.all(conns.map((nc) => nc.flush()));
    const deadline = Date.now() + CLUSTER_FORM_TIMEOUT_MS;
    while (!heard.every((h) => h.size === urls.length)) {
      if (Date.now() > deadline) {
        const counts = heard.map((h, i) => `${urls[i]} heard ${h.size}/${urls.length}`).join(', ');
        throw new NatsClusterError(`cluster did not mesh within ${CLUSTER_FORM_TIMEOUT_MS} ms: ${counts}`);
      }
      conns.forEach((nc, i) => nc.publish(subject, String(i)));
      await sleep(PROBE_INTERVAL_MS);
    }
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
}
