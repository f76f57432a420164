import { randomFillSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Empty, ErrorCode, NatsError, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../../runtime/transport/connection.js';
import { NatsConnectError, NatsServerStartError } from '../../../runtime/transport/errors.js';
import {
  DEFAULT_MAX_PAYLOAD,
  startNatsCluster,
  startNatsServer,
  type NatsCluster,
} from '../../../runtime/transport/nats-server.js';
import { useNatsServer } from '../../helpers/nats.js';

const REQUEST_TIMEOUT_MS = 10_000;
const BIG_PAYLOAD_BYTES = 3 * 1024 * 1024;

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

function echo(nc: NatsConnection, subject: string): void {
  nc.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
}

describe('one server', () => {
  const nats = useNatsServer();

  it('serves request/reply on loopback', async () => {
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await nats.connect();
    echo(nc, 'test.echo');
    const reply = await nc.request('test.echo', new TextEncoder().encode('ping'), { timeout: REQUEST_TIMEOUT_MS });
    expect(reply.string()).toBe('ping');
  });

  it('carries a 3 MB message, past the stock 1 MB max_payload', async () => {
    const nc = await nats.connect();
    expect(nc.info?.max_payload).toBe(DEFAULT_MAX_PAYLOAD);
    echo(nc, 'test.big');
    const payload = randomFillSync(new Uint8Array(BIG_PAYLOAD_BYTES));
    const reply = await nc.request('test.big', payload, { timeout: REQUEST_TIMEOUT_MS });
    expect(reply.data.byteLength).toBe(BIG_PAYLOAD_BYTES);
    expect(Buffer.compare(reply.data, payload)).toBe(0);
  });

  it('refuses a message over max_payload with an error, not a crash', async () => {
    const nc = await nats.connect();
    let error: unknown;
    try {
      nc.publish('test.too-big', new Uint8Array(DEFAULT_MAX_PAYLOAD + 1));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NatsError);
    expect((error as NatsError).code).toBe(ErrorCode.MaxPayloadExceeded);
    // The connection is still usable.
    echo(nc, 'test.after');
    expect((await nc.request('test.after', Empty, { timeout: REQUEST_TIMEOUT_MS })).data.byteLength).toBe(0);
  });

  it('answers a request nobody listens to with no-responders (503), not a timeout', async () => {
    const nc = await nats.connect();
    const error = await nc.request('test.nobody-home', Empty, { timeout: REQUEST_TIMEOUT_MS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NatsError);
    expect((error as NatsError).code).toBe(ErrorCode.NoResponders);
  });

  it('connects with a comma-separated server list that includes a dead server', async () => {
    const nc = await connectNats(`nats://127.0.0.1:1, ${nats.url}`, 'eaas-test-list');
    try {
      expect(nc.info?.port).toBe(nats.server.port);
    } finally {
      await nc.close();
    }
  });
});

describe('connectNats failures', () => {
  it('names the servers and suggests --nats when none answers', async () => {
    const error = await connectNats('nats://127.0.0.1:1', 'eaas-test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NatsConnectError);
    expect((error as Error).message).toContain('nats://127.0.0.1:1');
    expect((error as Error).message).toContain('--nats');
    expect((error as Error).cause).toBeInstanceOf(NatsError);
  });

  it('rejects an empty server list', async () => {
    await expect(connectNats(' , ', 'eaas-test')).rejects.toThrow(NatsConnectError);
  });
});

describe('server process', () => {
  it('stop() leaves no process behind', async () => {
    const server = await startNatsServer();
    expect(isGone(server.pid)).toBe(false);
    await server.stop();
    expect(isGone(server.pid)).toBe(true);
    await server.stop(); // stopping twice is harmless
  });

  it('stop() ends a server that was paused with SIGSTOP', async () => {
    const server = await startNatsServer();
    server.kill('SIGSTOP');
    await server.stop();
    expect(isGone(server.pid)).toBe(true);
  });

  it('fails with the server\'s own words when the port is taken', async () => {
    const first = await startNatsServer();
    try {
      const error = await startNatsServer({ port: first.port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NatsServerStartError);
      expect((error as Error).message).toMatch(/address already in use/i);
    } finally {
      await first.stop();
    }
  });

  it('honours a raised max_payload option', async () => {
    const server = await startNatsServer({ maxPayload: 2 * DEFAULT_MAX_PAYLOAD });
    const nc = await connectNats(server.url, 'eaas-test');
    try {
      expect(nc.info?.max_payload).toBe(2 * DEFAULT_MAX_PAYLOAD);
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});

describe('cluster of 3', () => {
  let cluster: NatsCluster;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });
  afterAll(async () => {
    await Promise.all(conns.map((nc) => nc.close()));
    await cluster?.stop();
  });

  async function connectTo(i: number): Promise<NatsConnection> {
    const nc = await connectNats(cluster.urls[i]!, `eaas-test-${i}`);
    conns.push(nc);
    return nc;
  }

  it('delivers a message published on one server to a subscriber on another', async () => {
    expect(new Set(cluster.servers.map((s) => s.port)).size).toBe(3);
    const [nc0, nc2] = [await connectTo(0), await connectTo(2)];
    expect(nc0.info?.port).toBe(cluster.servers[0]!.port);
    expect(nc2.info?.port).toBe(cluster.servers[2]!.port);

    const received: string[] = [];
    nc2.subscribe('test.cluster', { callback: (_err, msg) => received.push(msg.string()) });
    await nc2.flush();
    // Interest in the new subscription reaches server 0 over the route a moment later.
    for (let i = 0; received.length === 0 && i < 100; i++) {
      nc0.publish('test.cluster', new TextEncoder().encode('across'));
      await sleep(50);
    }
    expect(received[0]).toBe('across');
  });

  it('routes a request from one server to a responder on another', async () => {
    const [nc1, nc2] = [await connectTo(1), await connectTo(2)];
    nc2.subscribe('test.who', { callback: (_err, msg) => msg.respond(new TextEncoder().encode(nc2.info!.server_name)) });
    await nc2.flush();
    let reply: string | undefined;
    for (let i = 0; reply === undefined && i < 100; i++) {
      reply = await nc1
        .request('test.who', Empty, { timeout: REQUEST_TIMEOUT_MS })
        .then((m) => m.string())
        .catch(async (err: unknown) => {
          // Until the interest arrives, server 1 knows no responder.
          if ((err as NatsError).code !== ErrorCode.NoResponders) throw err;
          await sleep(50);
          return undefined;
        });
    }
    expect(reply).toBe(nc2.info!.server_name);
    expect(reply).not.toBe(nc1.info!.server_name);
  });

  it('stop() ends every server', async () => {
    const pids = cluster.servers.map((s) => s.pid);
    await Promise.all(conns.splice(0).map((nc) => nc.close()));
    await cluster.stop();
    expect(pids.filter((pid) => !isGone(pid))).toEqual([]);
  });
});
