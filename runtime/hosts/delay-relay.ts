// A TCP relay that delivers each direction a fixed time late: the latency of the link between two emulated hosts.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { DelayLane } from './delay-lane.js';
import { HostNetworkError } from './errors.js';

export class DelayRelay {
  private readonly open = new Set<Socket>();
  /** Bytes relayed so far, both ways: what crossed the link between two hosts. */
  bytes = 0;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Listens on `listen` (a free port) and forwards every connection to `target`, `delayMs` late each way. */
  static async start(listen: string, target: { host: string; port: number }, delayMs: number): Promise<DelayRelay> {
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listen, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new HostNetworkError(`the delay relay on ${listen} has no TCP address`);
    }
    const relay = new DelayRelay(server, listen, address.port);
    server.on('connection', (client) => relay.accept(client, target, delayMs));
    return relay;
  }

  private accept(client: Socket, target: { host: string; port: number }, delayMs: number): void {
    const upstream = connect({ ...target, noDelay: true });
    const lanes = [new DelayLane(client, upstream, () => delayMs), new DelayLane(upstream, client, () => delayMs)];
    const close = () => {
      for (const l of lanes) l.stop();
      for (const s of [client, upstream]) {
        this.open.delete(s);
        s.destroy();
      }
    };
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on('data', (chunk: Buffer) => (this.bytes += chunk.length));
      s.on('error', close);
      s.on('close', close);
    }
    client.resume();
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
