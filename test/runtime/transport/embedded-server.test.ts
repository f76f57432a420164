import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PlacementStore } from '../../../actors/protocol/placement-store.js';
import { connectNats, closeNats } from '../../../runtime/transport/connection.js';
import { NatsServerLostError, NatsServerStartError } from '../../../runtime/transport/errors.js';
import { keepNatsServer, MAX_SERVER_RESTARTS, type KeptNatsServer } from '../../../runtime/transport/kept-server.js';
import { startNatsServer } from '../../../runtime/transport/nats-server.js';
import { ensureBuilt } from '../../helpers/build.js';

const SERVER_PARENT = fileURLToPath(new URL('../../fixtures/server-parent.mjs', import.meta.url));

const exists = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the embedded nats-server', () => {
  let kept: KeptNatsServer | undefined;
  afterEach(async () => {
    await kept?.stop();
    kept = undefined;
  });

  it('is restarted on the same port after kill -9, and clients carry on', async () => {
    const restarts: string[] = [];
    const lost: Error[] = [];
    kept = await keepNatsServer({ onRestart: (why) => restarts.push(why), onLost: (e) => lost.push(e) });
    const nc = await connectNats(kept.url, 'kept-test');
    nc.subscribe('echo', { callback: (_e, m) => m.respond(m.data) });
    const first = kept.current()[0].pid;
    kept.current()[0].kill('SIGKILL');
    await vi.waitFor(() => expect(kept!.current()[0].pid).not.toBe(first), { timeout: 10_000 });
    // the subscription is re-sent on reconnect; the request goes through the new server
    await vi.waitFor(async () => expect(new TextDecoder().decode((await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 500 })).data)).toBe('hi'), { timeout: 10_000, interval: 200 });
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatch(new RegExp(`exited \\(SIGKILL\\); restarting it on port ${kept.current()[0].port}`));
    expect(lost).toEqual([]);
    await closeNats(nc);
  });

  it('is reported lost, with the reason, once it keeps dying', async () => {
    const lost: NatsServerLostError[] = [];
    kept = await keepNatsServer({ onLost: (e) => lost.push(e) });
    for (let i = 0; i <= MAX_SERVER_RESTARTS; i++) {
      const pid = kept.current()[0].pid;
      kept.current()[0].kill('SIGKILL');
      await vi.waitFor(() => expect(kept!.current()[0].pid !== pid || lost.length > 0).toBe(true), { timeout: 10_000 });
    }
    await vi.waitFor(() => expect(lost).toHaveLength(1), { timeout: 10_000 });
    expect(lost[0]).toBeInstanceOf(NatsServerLostError);
    expect(lost[0].message).toMatch(/giving up/);
  });

  it('keeps a route cluster: a killed member comes back on its ports and messages cross it again', async () => {
    const restarts: string[] = [];
    kept = await keepNatsServer({ servers: 3, onRestart: (why) => restarts.push(why), onLost: () => undefined });
    expect(kept.urls).toHaveLength(3);
    const [a, b, c] = kept.urls;
    const listener = await connectNats(a, 'listener');
    const heard: string[] = [];
    listener.subscribe('hello', { callback: (_e, m) => heard.push(m.string()) });
    await listener.flush();
    const victim = kept.current()[2];
    victim.kill('SIGKILL');
    await vi.waitFor(() => expect(kept!.current()[2].pid).not.toBe(victim.pid), { timeout: 10_000 });
    expect(kept.current()[2].url).toBe(c);
    // a client of the restarted member reaches a subscriber on another member once the routes re-formed
    const talker = await connectNats(c, 'talker');
    await vi.waitFor(
      async () => {
        talker.publish('hello', 'again');
        await talker.flush();
        expect(heard).toContain('again');
      },
      { timeout: 15_000, interval: 300 },
    );
    expect(restarts).toHaveLength(1);
    expect(kept.url).toBe([a, b, c].join(','));
    await Promise.all([listener, talker].map((nc) => closeNats(nc)));
  });

  it('runs JetStream on a route cluster: the placement bucket has 3 copies and outlives a killed member', async () => {
    kept = await keepNatsServer({ servers: 3, jetstream: true, onLost: () => undefined });
    const nc = await connectNats(kept.url, 'kv');
    const store = await PlacementStore.open(nc, 'clustered', { create: true, replicas: 3 });
    expect((await store.kv.status()).replicas).toBe(3);
    const record = { revision: 1, actors: [], reason: 'rebalance', detail: 'test', at: 1 };
    await store.writeDesired(record, 0);
    const victim = kept.current()[0];
    victim.kill('SIGKILL');
    await vi.waitFor(() => expect(kept!.current()[0].pid).not.toBe(victim.pid), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await store.desired())?.record).toEqual(record), { timeout: 15_000, interval: 300 });
    await closeNats(nc);
  });

  it('does not outlive the process that started it, even one killed with SIGKILL', async () => {
    ensureBuilt();
    const parent = spawn(process.execPath, [SERVER_PARENT], { stdio: ['ignore', 'pipe', 'inherit'] });
    const serverPid = await new Promise<number>((resolve, reject) => {
      parent.stdout!.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())));
      parent.once('exit', (code) => reject(new Error(`server parent exited early (${code})`)));
    });
    expect(exists(serverPid)).toBe(true);
    parent.kill('SIGKILL');
    await vi.waitFor(() => expect(exists(serverPid)).toBe(false), { timeout: 10_000 });
  });

  it('says in its first line why it did not start when the port is taken', async () => {
    const holder = await startNatsServer();
    try {
      const err = await startNatsServer({ port: holder.port }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(NatsServerStartError);
      const firstLine = err!.message.split('\n')[0];
      expect(firstLine).toMatch(new RegExp(`127\\.0\\.0\\.1:${holder.port}.*address already in use`));
      expect(firstLine).toMatch(/--nats-port/);
    } finally {
      await holder.stop();
    }
  });
});
