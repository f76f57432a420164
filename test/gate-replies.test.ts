// A gate's answers sent just before its server died are sent again once it reconnects to another server of the
// cluster, where its client, whose own link never dropped, hears them (real nats-servers, one killed).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RecentReplies } from '../actors/gate/replies.js';
import { closeNats, connectNats } from '../runtime/transport/connection.js';
import { startNatsCluster, type NatsCluster } from '../runtime/transport/nats-server.js';

describe('recent replies', () => {
  let cluster: NatsCluster | undefined;
  afterAll(async () => cluster?.stop());

  it('are published again after a reconnect, those older than the window are not', async () => {
    cluster = await startNatsCluster(2);
    const gate = await connectNats(cluster.urls, 'gate', { noRandomize: true });
    const client = await connectNats(cluster.urls[1], 'client');
    const heard: string[] = [];
    client.subscribe('inbox.>', { callback: (_e, m) => heard.push(`${m.subject}=${m.string()}`) });
    await client.flush();
    let t = 0;
    const replies = new RecentReplies(gate, 1_000, () => t);
    replies.record('inbox.old', new TextEncoder().encode('old'));
    t = 5_000;
    gate.publish('inbox.new', 'new');
    replies.record('inbox.new', new TextEncoder().encode('new'));
    await gate.flush();
    await vi.waitFor(() => expect(heard).toEqual(['inbox.new=new']));

    // the gate's server dies; the gate reconnects to the other one and sends its recent answer again
    cluster.servers[0].kill('SIGKILL');
    await vi.waitFor(() => expect(heard).toEqual(['inbox.new=new', 'inbox.new=new']), { timeout: 15_000, interval: 100 });
    replies.stop();
    await Promise.all([closeNats(gate), closeNats(client)]);
  });
});
