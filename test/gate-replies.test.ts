// A gate's answers sent just before its server died are sent again once it reconnects (real nats-server, killed and restarted).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RecentReplies } from '../actors/gate/replies.js';
import { closeNats, connectNats } from '../runtime/transport/connection.js';
import { startNatsServer, type NatsServerHandle } from '../runtime/transport/nats-server.js';

describe('recent replies', () => {
  let server: NatsServerHandle | undefined;
  afterAll(async () => server?.stop());

  it('are published again after a reconnect, those older than the window are not', async () => {
    server = await startNatsServer();
    const port = server.port;
    const gate = await connectNats(server.url, 'gate');
    const client = await connectNats(server.url, 'client');
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

    server.kill('SIGKILL');
    await server.exited;
    server = await startNatsServer({ port });
    await vi.waitFor(() => expect(heard).toEqual(['inbox.new=new', 'inbox.new=new']), { timeout: 15_000, interval: 100 });
    replies.stop();
    await Promise.all([closeNats(gate), closeNats(client)]);
  });
});
