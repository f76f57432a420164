// What a gate's dying server takes with it: the gate's answers sent just before are sent again once it reconnects
// to another server of the cluster, where its client, whose own link never dropped, hears them; and a reconnect
// notice makes clients still waiting send their request again (real nats-servers, one killed).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { requestGenerate } from '../../../actors/gate/client.js';
import { RecentReplies, REPLY_RESEND_WINDOW_MS } from '../../../actors/gate/replies.js';
import { encodeGateReconnected, encodeGenerateReply } from '../../../actors/protocol/messages.js';
import { closeNats, connectNats } from '../../../runtime/transport/connection.js';
import { startNatsCluster, startNatsServer, type NatsCluster } from '../../../runtime/transport/nats-server.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { awaitRoutedInterest } from '../../helpers/nats.js';

describe('recent replies', () => {
  let cluster: NatsCluster | undefined;
  afterAll(async () => cluster?.stop());

  it('are published again after a reconnect, those older than the window are not', async () => {
    cluster = await startNatsCluster(2);
    const gate = await connectNats(cluster.urls, 'gate', { noRandomize: true });
    const client = await connectNats(cluster.urls[1], 'client');
    const heard: string[] = [];
    client.subscribe('inbox.>', { callback: (_e, m) => heard.push(`${m.subject}=${m.string()}`) });
    const notices: string[] = [];
    client.subscribe(subjects.gateReconnectedWildcard('m'), { callback: (_e, m) => notices.push(m.subject) });
    await awaitRoutedInterest(client, gate);
    let t = 0;
    const replies = new RecentReplies(gate, subjects.gateReconnected('m', 'g1'), 1_000, () => t);
    replies.record('inbox.old', new TextEncoder().encode('old'));
    t = 5_000;
    gate.publish('inbox.new', 'new');
    replies.record('inbox.new', new TextEncoder().encode('new'));
    await gate.flush();
    await vi.waitFor(() => expect(heard).toEqual(['inbox.new=new']));

    // the gate's server dies; the gate reconnects to the other one and sends its recent answer again
    cluster.servers[0].kill('SIGKILL');
    await vi.waitFor(() => expect(heard).toEqual(['inbox.new=new', 'inbox.new=new']), { timeout: 15_000, interval: 100 });
    await vi.waitFor(() => expect(notices).toEqual(['eaas.v1.m.gate.g1.reconnected']), { timeout: 5_000, interval: 100 });
    replies.stop();
    await Promise.all([closeNats(gate), closeNats(client)]);
  });

  it('make a client still waiting send its request again when a gate announces its reconnect, if it was sent while that gate was away', async () => {
    const server = await startNatsServer({});
    const gate = await connectNats(server.url, 'gate');
    const client = await connectNats(server.url, 'client');
    try {
      // the first request is "lost": the gate never answers it, and announces reconnects instead
      let requests = 0;
      const notice = (downMs: number) => gate.publish(subjects.gateReconnected('m', 'g1'), encodeGateReconnected({ down_ms: downMs }));
      const first = gate.subscribe(subjects.generate('m'), {
        callback: (_e, m) => {
          if (++requests === 1) notice(0);
          else m.respond(encodeGenerateReply({ tokens: [7], prompt_tokens: [1], finish_reason: 'length' }));
        },
      });
      await gate.flush();
      const t0 = Date.now();
      const reply = await requestGenerate(client, 'm', { prompt: [1], max_tokens: 1 }, 10_000);
      expect(reply.tokens).toEqual([7]);
      expect(requests).toBe(2);
      // answered on the notice, not after the deadline
      expect(Date.now() - t0).toBeLessThan(5_000);

      // a request sent longer before than the gate was away (plus the window) reached some gate: not sent again
      requests = 0;
      first.unsubscribe();
      gate.subscribe(subjects.generate('m'), { callback: () => requests++ });
      await gate.flush();
      const waiting = requestGenerate(client, 'm', { prompt: [1], max_tokens: 1 }, 10_000).catch((e: Error) => e);
      await vi.waitFor(() => expect(requests).toBe(1));
      await new Promise((r) => setTimeout(r, REPLY_RESEND_WINDOW_MS + 300));
      notice(0);
      await gate.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(requests).toBe(1);
      // ...but is when the gate was away that long
      notice(REPLY_RESEND_WINDOW_MS + 5_000);
      await vi.waitFor(() => expect(requests).toBe(2));
      await client.close();
      expect(await waiting).toBeInstanceOf(Error);
    } finally {
      await Promise.all([closeNats(gate), closeNats(client)]);
      await server.stop();
    }
  });
});
