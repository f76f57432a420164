// Embedded nats-servers kept running: one server or a routed cluster, each member restarted on its own ports
// when it dies (clients reconnect, routes re-form), reported as lost when it cannot come back or keeps dying.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'nats';
import { NatsServerLostError } from './errors.js';
import { startNatsCluster, startNatsServer, type NatsServerHandle, type NatsServerOptions } from './nats-server.js';

/** Restarts of one server allowed within RESTART_PERIOD_MS before it counts as lost. */
export const MAX_SERVER_RESTARTS = 3;
export const RESTART_PERIOD_MS = 60_000;

export interface KeptServerOptions {
  /** Servers in the route cluster; 1: a single server. */
  servers?: number;
  /** The client port of a single server; a free one when absent (clusters always take free ports). */
  port?: number;
  secure?: NatsServerOptions['secure'];
  /** How the cluster's mesh probe connects (its credentials, in a secure deployment). */
  probe?: Partial<ConnectionOptions>;
  /** Run JetStream, each server's state in a temp dir that outlives its restarts and goes with `stop()`. */
  jetstream?: boolean;
  /** A server died and is being restarted (for the log). */
  onRestart?: (why: string) => void;
  /** A server cannot be kept: it would not restart, or died too often. */
  onLost: (err: NatsServerLostError) => void;
}

export interface KeptNatsServer {
  /** Every server's client URL, comma-separated: what nodes and clients are given. */
  url: string;
  urls: string[];
  /** The server processes running now. */
  current(): NatsServerHandle[];
  stop(): Promise<void>;
}

export async function keepNatsServer(o: KeptServerOptions): Promise<KeptNatsServer> {
  const n = o.servers ?? 1;
  const jsDirs = o.jetstream ? await Promise.all(Array.from({ length: n }, () => mkdtemp(join(tmpdir(), 'eaas-js-')))) : undefined;
  const removeJsDirs = () => Promise.all((jsDirs ?? []).map((d) => rm(d, { recursive: true, force: true })));
  const jetstream = (i: number) => (jsDirs ? { storeDir: jsDirs[i] } : undefined);
  /** How each member starts again: on its own ports, routed to the others. */
  let respawn: NatsServerOptions[];
  let servers: NatsServerHandle[];
  try {
    if (n === 1) {
      const s = await startNatsServer({ port: o.port, secure: o.secure, jetstream: jetstream(0) });
      servers = [s];
      respawn = [{ port: s.port, secure: o.secure, jetstream: jetstream(0) }];
    } else {
      const c = await startNatsCluster(n, { secure: o.secure, probe: o.probe, jetstreamDirs: jsDirs });
      servers = c.servers;
      const routes = c.servers.map((s) => `nats-route://127.0.0.1:${s.clusterPort}`);
      respawn = c.servers.map((s, i) => ({
        port: s.port,
        clusterPort: s.clusterPort,
        clusterName: c.clusterName,
        serverName: `${c.clusterName}-${i}`,
        routes: routes.filter((_, j) => j !== i),
        secure: o.secure,
        jetstream: jetstream(i),
      }));
    }
  } catch (err) {
    await removeJsDirs();
    throw err;
  }
  let stopping = false;
  const restarts = servers.map(() => [] as number[]);

  const watch = async (i: number): Promise<void> => {
    const s = servers[i];
    const { code, signal } = await s.exited;
    if (stopping) return;
    const why = `the embedded nats-server ${s.url} (pid ${s.pid}) exited (${signal ?? `code ${code}`})`;
    const now = Date.now();
    const recent = (restarts[i] = restarts[i].filter((t) => now - t <= RESTART_PERIOD_MS));
    if (recent.length >= MAX_SERVER_RESTARTS) {
      return o.onLost(new NatsServerLostError(`${why}, its ${MAX_SERVER_RESTARTS + 1}th death within ${RESTART_PERIOD_MS / 1000} s: giving up`));
    }
    recent.push(now);
    o.onRestart?.(`${why}; restarting it on port ${s.port}`);
    try {
      servers[i] = await startNatsServer(respawn[i]);
    } catch (cause) {
      return o.onLost(new NatsServerLostError(`${why} and could not be restarted on port ${s.port}: ${(cause as Error).message.split('\n')[0]}`, { cause }));
    }
    if (stopping) return void servers[i].stop();
    void watch(i);
  };
  servers.forEach((_, i) => void watch(i));

  const urls = servers.map((s) => s.url);
  return {
    url: urls.join(','),
    urls,
    current: () => [...servers],
    stop: async () => {
      stopping = true;
      await Promise.all(servers.map((s) => s.stop()));
      await removeJsDirs();
    },
  };
}
