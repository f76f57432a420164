// Streams survive failover: a streamed generation whose client's server dies mid-stream still ends with every token
// once and in order; a gate whose server dies sends its streams again (real nats-servers, one frozen then killed); a
// client whose gate is gone has its request generated again elsewhere, and keeps tokens by index (fake gates).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { streamGenerate } from '../../../actors/gate/client.js';
import { StreamBook } from '../../../actors/gate/streams.js';
import type { WireToken } from '../../../actors/protocol/messages.js';
import { decodeGenerateRequest, encodeStreamMessage, type StreamMessage } from '../../../actors/protocol/messages.js';
import { startNode, type RunningNode } from '../../../runtime/node/cluster.js';
import { closeNats, connectNats } from '../../../runtime/transport/connection.js';
import { startNatsCluster, startNatsServer, type NatsCluster } from '../../../runtime/transport/nats-server.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import type { NatsConnection } from 'nats';
import { ensureBuilt } from '../../helpers/build.js';
import { awaitRoutedInterest } from '../../helpers/nats.js';
import { withEnv } from '../../helpers/env.js';
import { monolithicReference } from '../../helpers/reference.js';
import { tinyCheckpointDir } from '../../helpers/tiny-model.js';

const PROMPT = [1, 72, 101, 108];
const MAX_TOKENS = 40;
/** Sampled, with a seed: a stream generated again must give the same tokens. */
const SAMPLING = { temperature: 0.8, seed: 9 };
/** Long enough for several tokens (about 90 ms each here) to go into the frozen server and be lost. */
const FROZEN_MS = 800;

describe('streams across a nats-server failure', () => {
  let tiny: ReturnType<typeof tinyCheckpointDir>;
  let reference: number[];
  let cluster: NatsCluster | undefined;
  let node: RunningNode | undefined;
  let client: NatsConnection | undefined;

  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    [{ tokens: reference }] = await monolithicReference(tiny.dir, [PROMPT], { maxTokens: MAX_TOKENS, stopAtEos: false, sampling: SAMPLING });
  });
  afterEach(async () => {
    if (client) await closeNats(client);
    await node?.stop();
    await cluster?.stop();
    [client, node, cluster] = [undefined, undefined, undefined];
  });
  afterAll(() => tiny?.remove());

  /**
   * A server that stops answering, then dies: what it took in meanwhile (routed tokens) is lost with it. A plain kill
   * is noticed within milliseconds (the socket closes), often before the next token, so nothing would be lost.
   */
  function freezeThenKill(server: { kill(signal: NodeJS.Signals): unknown }): void {
    server.kill('SIGSTOP');
    setTimeout(() => server.kill('SIGKILL'), FROZEN_MS);
  }

  /** Streams the prompt through `client`; after the 5th token server `victim` freezes, then dies. */
  async function streamThroughFailure(victim: number): Promise<{ ids: number[]; finish: string }> {
    const ids: number[] = [];
    const finish = await streamGenerate(
      client!,
      node!.model,
      { prompt: PROMPT, max_tokens: MAX_TOKENS, stop_at_eos: false, ...SAMPLING },
      {
        token: (t: WireToken) => {
          ids.push(t.id);
          if (ids.length === 5) freezeThenKill(cluster!.servers[victim]);
        },
      },
      { timeoutMs: 60_000 },
    );
    return { ids, finish };
  }

  /** A node (supervisor and gate) on `natsUrl`; its experts answer slowly so the stream lasts a few seconds. */
  const startSlowNode = (natsUrl: string) =>
    withEnv({ EAAS_EXPERT_DELAY_MS: '40' }, () => startNode({ nats: natsUrl, modelDir: tiny.dir, roles: ['supervisor', 'gate'], node: 'fo', replicas: 1, expertsPerActor: 16 }));

  it('the client’s server dies: it reconnects, resumes the stream at its gate, and drops what it already had', async () => {
    cluster = await startNatsCluster(2);
    node = await startSlowNode(cluster.urls[1]);
    client = await connectNats([cluster.urls[0], cluster.urls[1]], 'stream-client', { noRandomize: true });
    const { ids, finish } = await streamThroughFailure(0);
    expect(finish).toBe('length');
    expect(ids).toEqual(reference);
  }, 90_000);

});

describe('a gate’s streams after its server dies', () => {
  it('go out again once the gate reconnects elsewhere, with what the dead server took', async () => {
    const cluster = await startNatsCluster(2);
    const gate = await connectNats(cluster.urls, 'gate', { noRandomize: true });
    const client = await connectNats(cluster.urls[1], 'client');
    try {
      const heard: string[] = [];
      client.subscribe('inbox.a', { callback: (_e, m) => heard.push(m.string()) });
      await awaitRoutedInterest(client, gate);
      const book = new StreamBook(gate);
      const text = (s: string) => new TextEncoder().encode(s);
      book.open('r1', 'inbox.a', new AbortController());
      book.send('r1', text('start'));
      book.send('r1', text('t0'));
      await gate.flush();
      await vi.waitFor(() => expect(heard).toEqual(['start', 't0']));
      // the gate's server stops answering: a token sent now goes into it and is lost when it dies
      cluster.servers[0].kill('SIGSTOP');
      book.send('r1', text('t1'));
      await new Promise((r) => setTimeout(r, 300));
      cluster.servers[0].kill('SIGKILL');
      // the gate reconnects to the other server and sends the stream again; the client keeps each message by index
      // (t1 may also have made it through before the server stopped: a client keeps the first of each)
      await vi.waitFor(
        () => {
          const again = heard.lastIndexOf('start');
          expect(again).toBeGreaterThan(0);
          expect(heard.slice(again)).toEqual(['start', 't0', 't1']);
        },
        { timeout: 15_000, interval: 100 },
      );
      book.send('r1', text('end'), true);
      await vi.waitFor(() => expect(heard.at(-1)).toBe('end'));
      book.stop();
    } finally {
      await Promise.all([closeNats(gate), closeNats(client)]);
      await cluster.stop();
    }
  }, 30_000);
});

describe('a stream whose gate is gone (fake gates)', () => {
  it('is sent again when its gate no longer answers, and its tokens come once each and in order, whatever order they arrive in', async () => {
    const server = await startNatsServer({});
    const gates = await connectNats(server.url, 'fake-gates');
    const client = await connectNats(server.url, 'client');
    try {
      const requests: { id?: string; seed?: number }[] = [];
      const send = (to: string, m: StreamMessage) => gates.publish(to, encodeStreamMessage(m));
      gates.subscribe(subjects.generate('m'), {
        callback: (_e, msg) => {
          const req = decodeGenerateRequest(msg.data);
          requests.push({ id: req.id, seed: req.seed });
          const start = (resume: string): StreamMessage => ({ kind: 'start', request: req.id!, cancel: 'fake.cancel', resume, prompt_tokens: [1] });
          if (requests.length === 1) {
            // the first gate: two tokens, then it is gone (its resume subject has no responders)
            send(msg.reply!, start('fake.gone.resume'));
            send(msg.reply!, { kind: 'token', index: 0, id: 10 });
            send(msg.reply!, { kind: 'token', index: 1, id: 11 });
            return;
          }
          // another gate generates the same stream again: out of order, with the first tokens again
          send(msg.reply!, start('fake.other.resume'));
          for (const index of [0, 3, 1, 2]) send(msg.reply!, { kind: 'token', index, id: 10 + index });
          send(msg.reply!, { kind: 'end', finish_reason: 'length', tokens: 5 });
          send(msg.reply!, { kind: 'token', index: 4, id: 14 });
        },
      });
      await gates.flush();
      const ids: number[] = [];
      const starts: number[][] = [];
      const finish = await streamGenerate(client, 'm', { prompt: [1], max_tokens: 5, temperature: 1 }, { start: (p) => starts.push(p), token: (t) => ids.push(t.id) }, { stallMs: 300, timeoutMs: 10_000 });
      expect(finish).toBe('length');
      expect(ids).toEqual([10, 11, 12, 13, 14]);
      expect(starts).toHaveLength(1);
      // the same request both times: its id, and the seed the client chose for it
      expect(requests).toHaveLength(2);
      expect(requests[1]).toEqual(requests[0]);
      expect(requests[0].id).toBeDefined();
      expect(requests[0].seed).toBeDefined();
    } finally {
      await Promise.all([closeNats(gates), closeNats(client)]);
      await server.stop();
    }
  });
});
