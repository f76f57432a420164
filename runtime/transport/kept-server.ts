// An embedded nats-server kept running: restarted on the same port when it dies (clients reconnect),
// and reported as lost when it cannot come back or keeps dying.
import { NatsServerLostError } from './errors.js';
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from './nats-server.js';

/** Restarts allowed within RESTART_PERIOD_MS before the server counts as lost. */
export const MAX_SERVER_RESTARTS = 3;
export const RESTART_PERIOD_MS = 60_000;

export interface KeptServerOptions extends NatsServerOptions {
  /** The server died and is being restarted (for the log). */
  onRestart?: (why: string) => void;
  /** The server cannot be kept: it would not restart, or died too often. */
  onLost: (err: NatsServerLostError) => void;
}

export interface KeptNatsServer {
  url: string;
  port: number;
  /** The server process running now. */
  current(): NatsServerHandle;
  stop(): Promise<void>;
}

export async function keepNatsServer(o: KeptServerOptions): Promise<KeptNatsServer> {
  let server = await startNatsServer(o);
  const port = server.port;
  let stopping = false;
  const restarts: number[] = [];

  const watch = async (s: NatsServerHandle): Promise<void> => {
    const { code, signal } = await s.exited;
    if (stopping) return;
    const why = `the embedded nats-server (pid ${s.pid}) exited (${signal ?? `code ${code}`})`;
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0] > RESTART_PERIOD_MS) restarts.shift();
    if (restarts.length >= MAX_SERVER_RESTARTS) {
      return o.onLost(new NatsServerLostError(`${why}, its ${MAX_SERVER_RESTARTS + 1}th death within ${RESTART_PERIOD_MS / 1000} s: giving up`));
    }
    restarts.push(now);
    o.onRestart?.(`${why}; restarting it on port ${port}`);
    try {
      server = await startNatsServer({ ...o, port });
    } catch (cause) {
      return o.onLost(new NatsServerLostError(`${why} and could not be restarted on port ${port}: ${(cause as Error).message.split('\n')[0]}`, { cause }));
    }
    if (stopping) return void server.stop();
    void watch(server);
  };
  void watch(server);

  return {
    url: server.url,
    port,
    current: () => server,
    stop: async () => {
      stopping = true;
      await server.stop();
    },
  };
}
