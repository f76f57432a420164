// Three emulated hosts, each in its own network namespace with its own nats-server (a route cluster over
// 1 ms / 1 Gbit/s links): a gate host and two expert hosts holding every expert once each. One expert host's
// cable is pulled while 32 requests stream; nothing may be lost or changed, and once it is back its actors work again.
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate, streamGenerate } from '../../../actors/gate/client.js';
import { clusterStatus } from '../../../actors/protocol/status.js';
import type { GenerateResult } from '../../../model/engine.js';
import { Hosts } from '../../../runtime/hosts/hosts.js';
import { closeNats, connectNats } from '../../../runtime/transport/connection.js';
import { ensureBuilt } from '../../helpers/build.js';
import { monolithicReference } from '../../helpers/reference.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const STREAMS = 32;
const PROMPTS = Array.from({ length: STREAMS }, (_, i) => [1, 10 + i, 20 + ((7 * i) % 200), 30 + i]);
const MAX_TOKENS = 24;
const REQUEST_BOUND_MS = 60_000;
const PULLED = 'h2';

describe('three hosts in network namespaces: a gate host and two expert hosts', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let hosts: Hosts;
  let client: NatsConnection;
  let expected: GenerateResult[];

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    expected = await monolithicReference(tiny.dir, PROMPTS, { maxTokens: MAX_TOKENS, stopAtEos: false });
    const model = ['--model', tiny.dir, '--name', 'tiny'];
    // each expert host holds every expert once: the other host's replicas cover a lost one
    const expertHost = (name: string) => ({ name, node: [...model, '--role', 'supervisor', '--node-name', name, '--replicas', '1'] });
    hosts = await Hosts.start({
      link: { delayMs: 1, rateMbit: 1000 },
      hosts: [{ name: 'gate', gate: true, node: [...model, '--role', 'gate', '--node-name', 'gate'] }, expertHost('h1'), expertHost(PULLED)],
      readyTimeoutMs: 120_000,
    });
    // the test is a client on the switch, outside every host
    client = await connectNats(hosts.host('gate').natsUrl, 'hosts-test-client');
  }, 240_000);
  afterAll(async () => {
    if (client) await closeNats(client);
    await hosts?.stop();
    tiny?.remove();
  });

  /** Requests answered so far by the actors of `node`. */
  const answeredBy = async (node: string) =>
    (await clusterStatus(client)).actors.filter((a) => a.node === node && a.instance !== undefined).reduce((n, a) => n + a.requests, 0);

  it('every host runs its own server, routed to the others, and the tokens are the monolith\'s', async () => {
    expect(hosts.hosts.map((h) => h.ip)).toHaveLength(new Set(hosts.hosts.map((h) => h.ip)).size);
    // at each host's address answers that host's own server
    for (const h of hosts.hosts) {
      const nc = await connectNats(h.natsUrl, `hosts-test-${h.name}`);
      try {
        expect(nc.info?.server_name).toBe(h.name);
      } finally {
        await closeNats(nc);
      }
    }
    const r = await requestGenerate(client, 'tiny', { prompt: PROMPTS[0], max_tokens: MAX_TOKENS, stop_at_eos: false }, REQUEST_BOUND_MS);
    expect(r.tokens).toEqual(expected[0].tokens);
    // both expert hosts' actors answered: the rows crossed the routes to each
    await vi.waitFor(async () => {
      expect(await answeredBy('h1')).toBeGreaterThan(0);
      expect(await answeredBy(PULLED)).toBeGreaterThan(0);
    }, { timeout: 20_000, interval: 500 });
  }, 60_000);

  it('a host pulled while 32 requests stream loses nothing and changes nothing; back, its actors take load again', async () => {
    const tokens = PROMPTS.map(() => [] as number[]);
    let firstTokens = 0;
    const streams = PROMPTS.map((prompt, i) =>
      streamGenerate(client, 'tiny', { prompt, max_tokens: MAX_TOKENS, stop_at_eos: false }, {
        token: (t) => {
          if (tokens[i].length === 0) firstTokens++;
          tokens[i].push(t.id);
        },
      }, { timeoutMs: REQUEST_BOUND_MS }),
    );
    // pulled mid-stream: every request has begun and none has ended
    await vi.waitFor(() => expect(firstTokens).toBe(STREAMS), { timeout: 30_000, interval: 5 });
    expect(tokens.every((t) => t.length < MAX_TOKENS)).toBe(true);
    await hosts.pull(PULLED);
    try {
      const finishes = await Promise.all(streams);
      expect(finishes.every((f) => f === 'length')).toBe(true);
      tokens.forEach((t, i) => expect(t, `stream ${i}`).toEqual(expected[i].tokens));
      // the cable is out: the pulled host's actors do not answer discovery
      expect((await clusterStatus(client)).nodes).not.toContain(PULLED);
    } finally {
      await hosts.restore(PULLED);
    }
    // its actors answer discovery again once the routes to it resume (TCP's back-off); what they count from then on is new work
    await vi.waitFor(async () => expect((await clusterStatus(client)).nodes).toContain(PULLED), { timeout: 60_000, interval: 200 });
    const before = await answeredBy(PULLED);
    await vi.waitFor(async () => {
      const r = await requestGenerate(client, 'tiny', { prompt: PROMPTS[1], max_tokens: MAX_TOKENS, stop_at_eos: false }, REQUEST_BOUND_MS);
      expect(r.tokens).toEqual(expected[1].tokens);
      expect(await answeredBy(PULLED)).toBeGreaterThan(before);
    }, { timeout: 60_000, interval: 200 });
  }, 180_000);
});
