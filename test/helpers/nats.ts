// Test harness: one real nats-server per suite, and connections that are closed for you.
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll } from 'vitest';
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
