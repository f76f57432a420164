// A secure deployment (eaas up --secure): TLS, credentials per role, least-privilege subject permissions.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Events, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DashboardFeed } from '../../../actors/dashboard/feed.js';
import { placementView } from '../../../actors/controller/client.js';
import { policyConfig } from '../../../actors/controller/policy.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import { PlacementStore } from '../../../actors/protocol/placement-store.js';
import { encodeDispatch, encodeEvent } from '../../../actors/protocol/messages.js';
import { clusterStatus } from '../../../actors/protocol/status.js';
import { retireInstance } from '../../../actors/supervisor/client.js';
import { loadRegistry } from '../../../observability/metrics.js';
import { startLocalCluster, type LocalCluster } from '../../../runtime/node/cluster.js';
import { prepareSecure } from '../../../runtime/node/secure.js';
import { encodeMessage } from '../../../runtime/transport/codec.js';
import { closeNats, connectNats, type NatsAuth } from '../../../runtime/transport/connection.js';
import { NatsAuthError } from '../../../runtime/transport/errors.js';
import { renderConfig } from '../../../runtime/transport/nats-server.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { ensureBuilt } from '../../helpers/build.js';
import { monolithicReference } from '../../helpers/reference.js';
import { withEnv } from '../../helpers/env.js';
import { remoteExperts } from '../../helpers/gate-dispatch.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

/** Permission errors the server sent this connection (they arrive asynchronously as status events). */
function violations(nc: NatsConnection): string[] {
  const out: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === Events.Error) out.push(String(s.data));
  })();
  return out;
}

describe('a secure deployment', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let root: string;
  let cluster: LocalCluster;
  const conns: NatsConnection[] = [];
  const as = async (auth: NatsAuth, name = 'test') => {
    const nc = await connectNats(cluster.url, name, { reconnect: false }, auth);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    root = mkdtempSync(join(tmpdir(), 'eaas-secure-'));
    cluster = await withEnv({ EAAS_LOAD_REPORT_MS: '200' }, () => startLocalCluster({ modelDir: tiny.dir, secureStateDir: join(root, 'state'), clusterSize: 2, replicas: 2, expertsPerActor: 8, node: 'sec' }));
  });
  afterAll(async () => {
    await Promise.all(conns.map((nc) => closeNats(nc)));
    await cluster?.stop();
    tiny?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const client = () => ({ creds: cluster.secure!.users.client, tlsCa: cluster.secure!.tls.ca });

  it('keeps its keys and credentials in files only their owner can read', () => {
    const secrets = ['auth', 'tls'].flatMap((d) => readdirSync(join(root, 'state', d)).filter((f) => /\.(nk|creds)$|-key\.pem$/.test(f)).map((f) => join(root, 'state', d, f)));
    expect(secrets.length).toBeGreaterThan(8);
    for (const f of secrets) expect(statSync(f).mode & 0o777, f).toBe(0o600);
  });

  it('serves a client with its credentials over TLS, exactly as the monolith', async () => {
    const nc = await as(client());
    const [expected] = await monolithicReference(tiny.dir, [[1, 2, 3]], { maxTokens: 5, stopAtEos: false });
    expect((await requestGenerate(nc, cluster.model, { prompt: [1, 2, 3], max_tokens: 5, stop_at_eos: false })).tokens).toEqual(expected.tokens);
  });

  it('refuses no credentials, credentials of another authority, and plain TCP', async () => {
    await expect(connectNats(cluster.url, 'anon', { reconnect: false }, { tlsCa: cluster.secure!.tls.ca })).rejects.toThrow(NatsAuthError);
    // without our CA the server's certificate is not trusted: refused before any credentials go out
    await expect(connectNats(cluster.url, 'no-ca', { reconnect: false }, { creds: cluster.secure!.users.client })).rejects.toThrow(NatsAuthError);
    const stranger = await prepareSecure(join(root, 'other'), cluster.model);
    await expect(connectNats(cluster.url, 'stranger', { reconnect: false }, { creds: stranger.users.client, tlsCa: cluster.secure!.tls.ca })).rejects.toThrow(/Authorization Violation|authorization/i);
    // a plain-text CONNECT is turned away before any credentials are read
    const port = Number(new URL(cluster.url.split(',')[0]).port);
    const answer = await new Promise<string>((resolve) => {
      const sock = tcpConnect(port, '127.0.0.1');
      let got = '';
      sock.on('data', (d) => {
        got += d.toString();
        if (got.includes('INFO')) sock.write('CONNECT {"verbose":false}\r\nPING\r\n');
      });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    expect(answer).toMatch(/"tls_required":true/);
    expect(answer).not.toMatch(/PONG/);
  });

  it('lets each expert actor publish its own load report, and the node hear every one for its metrics', async () => {
    const instances = cluster.supervisor!.status().children.map((c) => c.instance);
    const shown = async () => (await loadRegistry.getSingleMetric('eaas:expert_actor_busy_fraction')!.get()).values.map((v) => v.labels.actor).sort();
    await vi.waitFor(async () => expect(await shown()).toEqual([...instances].sort()), { timeout: 5_000 });
  });

  it('lets a client read neither the cluster’s subjects nor another user’s inbox', async () => {
    const nc = await as(client(), 'snoop');
    const errors: string[] = [];
    const heard: string[] = [];
    nc.subscribe('eaas.>', { callback: (err, m) => (err ? errors.push(err.message) : heard.push(m.subject)) });
    nc.subscribe('_INBOX.gate-sec.>', { callback: (err, m) => (err ? errors.push(err.message) : heard.push(m.subject)) });
    await nc.flush();
    const other = await as(client(), 'victim');
    await requestGenerate(other, cluster.model, { prompt: [1, 2], max_tokens: 3 });
    await vi.waitFor(() => expect(errors.filter((e) => /Permissions Violation/i.test(e)).length).toBeGreaterThanOrEqual(2));
    expect(heard).toEqual([]);
  });

  /** Publishes as `auth` and resolves with the server's verdict: nats.js reports a refused publish as a PERMISSIONS_VIOLATION status. */
  async function publishAs(auth: NatsAuth, subject: string, data: Uint8Array): Promise<string[]> {
    const nc = await as(auth, 'forger');
    const errors = violations(nc);
    nc.publish(subject, data);
    await nc.flush().catch(() => undefined);
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0));
    return errors;
  }

  it('refuses a client’s dispatch, fake down event and retire: nothing happens', async () => {
    const victim = cluster.supervisor!.status().children[0];
    const servedBefore = (await clusterStatus(await as({ creds: cluster.secure!.users.monitor, tlsCa: cluster.secure!.tls.ca }, 'monitor'))).actors.find((a) => a.instance === victim.instance)!.requests;
    const down = encodeEvent({ kind: 'down', instance: victim.instance, experts: victim.experts, node: 'sec', at: Date.now() });
    for (const [subject, data] of [
      [subjects.expertDispatch(cluster.model, victim.instance), encodeDispatch({ layer: 0, experts: [0], rows: [1], x: new Float32Array(64) }, 64, 'f32')],
      [subjects.eventSubject(cluster.model, 'down', 'sec', victim.instance), down],
      [subjects.supervisorEndpoint(cluster.model, 'sec', 'retire'), encodeMessage({ instance: victim.instance, force: true })],
    ] as const) {
      expect(await publishAs(client(), subject, data), subject).toContain('PERMISSIONS_VIOLATION');
    }
    expect(remoteExperts(cluster.gate).directory.get(victim.instance)?.up).toBe(true);
    expect(cluster.supervisor!.status().children.every((c) => c.state === 'running')).toBe(true);
    const servedAfter = (await clusterStatus(await as({ creds: cluster.secure!.users.monitor, tlsCa: cluster.secure!.tls.ca }, 'monitor'))).actors.find((a) => a.instance === victim.instance)!.requests;
    expect(servedAfter).toBe(servedBefore);
  });

  it('lets an expert actor speak only for itself', async () => {
    const [a, b] = cluster.supervisor!.status().children;
    const creds = { creds: join(root, 'state', 'auth', `expert-${a.instance}.creds`), tlsCa: cluster.secure!.tls.ca };
    const down = encodeEvent({ kind: 'down', instance: b.instance, experts: b.experts, node: 'sec', at: Date.now() });
    expect(await publishAs(creds, subjects.eventSubject(cluster.model, 'down', 'sec', b.instance), down)).toContain('PERMISSIONS_VIOLATION');
    expect(remoteExperts(cluster.gate).directory.get(b.instance)?.up).toBe(true);
  });

  it('answers eaas status for the monitor role', async () => {
    const nc = await as({ creds: cluster.secure!.users.monitor, tlsCa: cluster.secure!.tls.ca }, 'monitor');
    const s = await clusterStatus(nc);
    expect(s.actors.filter((x) => x.service === 'eaas-expert')).toHaveLength(4);
  });

  it('shows the dashboard to the monitor role: actors, gates and traffic, with no permission refused', async () => {
    const nc = await as({ creds: cluster.secure!.users.monitor, tlsCa: cluster.secure!.tls.ca }, 'monitor');
    const refused = violations(nc);
    const feed = await DashboardFeed.start({ nc, model: cluster.model });
    try {
      await requestGenerate(await as(client()), cluster.model, { prompt: [1, 2, 3], max_tokens: 4 });
      await vi.waitFor(
        () => {
          const s = feed.view.snapshot();
          expect(s.actors.filter((a) => a.state === 'up')).toHaveLength(4);
          expect(s.nodes.map((n) => n.name)).toContain('sec');
          // the gate's pulse carried the tokens, its load report the heat
          expect(s.traffic.some((p) => p.tokensPerSec > 0)).toBe(true);
          expect(s.heat.flat().some((h) => h > 0)).toBe(true);
        },
        { timeout: 10_000, interval: 200 },
      );
      expect(refused).toEqual([]);
    } finally {
      await feed.stop();
    }
  });

  it('retires only for the operator, and never the last live replica unless forced', async () => {
    const nc = await as({ creds: cluster.secure!.users.operator, tlsCa: cluster.secure!.tls.ca }, 'operator');
    const [first, ...rest] = cluster.supervisor!.status().children;
    await retireInstance(nc, first.instance);
    expect(cluster.supervisor!.status().children.find((c) => c.instance === first.instance)?.state).toBe('stopped');
    // an actor that now holds the only replica of one of the retired actor's experts
    const sole = rest.find((c) => c.experts.some((e) => first.experts.includes(e)))!;
    await expect(retireInstance(nc, sole.instance)).rejects.toThrow(/holds the last live replica of expert.*--force/);
    expect(cluster.supervisor!.status().children.find((c) => c.instance === sole.instance)?.state).toBe('running');
    await retireInstance(nc, sole.instance, true);
    expect(cluster.supervisor!.status().children.find((c) => c.instance === sole.instance)?.state).toBe('stopped');
  });

  it('writes server configurations that nats-server -t accepts', async () => {
    const s = cluster.secure!;
    const file = join(root, 'check.conf');
    writeFileSync(file, renderConfig({ port: 4222, clusterName: 'c', clusterPort: 6222, routes: ['nats-route://127.0.0.1:6223'], secure: { tls: s.tls, auth: s.serverAuth } }));
    const r = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });
});

describe('a secure elastic deployment (eaas up --secure --autoscale)', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let root: string;
  let cluster: LocalCluster;
  const conns: NatsConnection[] = [];
  const as = async (creds: string, name: string) => {
    const nc = await connectNats(cluster.url, name, { reconnect: false }, { creds, tlsCa: cluster.secure!.tls.ca });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    root = mkdtempSync(join(tmpdir(), 'eaas-secure-elastic-'));
    // at most 4 experts per actor: the static start (one actor of 16) is repaired once, then nothing changes
    const autoscale = policyConfig({ minReplicas: 1, perActor: 4, minIntervalMs: 3_600_000, upDelayMs: 3_600_000, downDelayMs: 3_600_000 }, 'test policy');
    cluster = await withEnv({ EAAS_CONTROLLER_TICK_MS: '300', EAAS_LOAD_REPORT_MS: '200' }, () =>
      startLocalCluster({ modelDir: tiny.dir, secureStateDir: join(root, 'state'), replicas: 1, expertsPerActor: 16, node: 'el', autoscale }),
    );
  });
  afterAll(async () => {
    await Promise.all(conns.map((nc) => closeNats(nc)));
    await cluster?.stop();
    tiny?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('carries out the controller’s placement with each role’s least rights, and serves as the monolith', async () => {
    const monitor = await as(cluster.secure!.users.monitor, 'monitor');
    await vi.waitFor(
      async () => {
        const view = await placementView(monitor, cluster.model);
        expect(view.desired?.revision).toBe(1);
        expect(view.actual.map((a) => a.revision)).toEqual([1]);
        expect(view.actors.every((a) => a.desired && a.running && a.experts.length <= 4)).toBe(true);
      },
      { timeout: 30_000, interval: 300 },
    );
    const client = await as(cluster.secure!.users.client, 'client');
    const [reference] = await monolithicReference(tiny.dir, [[1, 2, 3]], { maxTokens: 5, stopAtEos: false });
    expect((await requestGenerate(client, cluster.model, { prompt: [1, 2, 3], max_tokens: 5, stop_at_eos: false })).tokens).toEqual(reference.tokens);
  });

  it('lets the monitor read the placement bucket but not write it, and a client not even read it', async () => {
    const monitor = await as(cluster.secure!.users.monitor, 'monitor-w');
    const refused = violations(monitor);
    const store = await PlacementStore.open(monitor, cluster.model);
    const desired = await store.desired();
    expect(desired?.record.revision).toBe(1);
    await expect(store.writeDesired({ ...desired!.record, revision: 99 }, desired!.revision)).rejects.toThrow();
    expect(refused).toContain('PERMISSIONS_VIOLATION');
    expect((await store.desired())?.record.revision).toBe(1);
    const client = await as(cluster.secure!.users.client, 'client-r');
    await expect(PlacementStore.open(client, cluster.model)).rejects.toThrow();
  }, 20_000);
});
