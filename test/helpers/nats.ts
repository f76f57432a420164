// Test harness: one real nats-server per suite, connections that are closed for you, and a wait for a cluster's routes.
import { nuid, type NatsConnection } from 'nats';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { connectNats } from '../../runtime/transport/connection.js';
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from '../../runtime/transport/nats-server.js';

export interface NatsTestServer {
  /** The running server; only valid inside tests and hooks, after beforeAll. */
  readonly server: NatsServerHandle;
  readonly url: string;
  /** A connection with our production defaults, closed in afterAll before the server stops. */
  connect(name?: string): Promise<NatsConnection>;
}

/** Call at suite level: starts a server in beforeAll and stops it in afterAll. */
export function useNatsServer(opts?: NatsServerOptions): NatsTestServer {
  let handle: NatsServerHandle | undefined;
  const connections: NatsConnection[] = [];

  beforeAll(async () => {
    handle = await startNatsServer(opts);
  });
  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await handle?.stop();
  });

  const server = (): NatsServerHandle => {
    if (!handle) throw new Error('nats-server is not running: use it inside tests, after beforeAll');
    return handle;
  };
  return {
    get server() {
      return server();
    },
    get url() {
      return server().url;
    },
    async connect(name = 'eaas-test') {
      const nc = await connectNats(server().url, name);
      connections.push(nc);
      return nc;
    },
  };
}

/**
 * Waits until the subscriptions `subscriber` made so far are known to `publisher`'s server, when the two sit on
 * different servers of a cluster: interest crosses a route a moment after the subscriber's flush, and a message
 * published before that is dropped. A probe subscription made last crosses the same route after them (in order).
 */
export async function awaitRoutedInterest(subscriber: NatsConnection, publisher: NatsConnection): Promise<void> {
  const subject = `_EAAS.interest_probe.${nuid.next()}`;
  let heard = false;
  const probe = subscriber.subscribe(subject, { callback: () => (heard = true) });
  await subscriber.flush();
  await vi.waitFor(
    async () => {
      publisher.publish(subject);
      await publisher.flush();
      expect(heard).toBe(true);
    },
    { timeout: 10_000, interval: 50 },
  );
  probe.unsubscribe();
}
