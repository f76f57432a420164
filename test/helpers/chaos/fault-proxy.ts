// A TCP fault proxy on loopback between NATS clients and a nats-server: pass, added latency,
// dropped connections or a stall (nothing forwarded, nothing closed: a black hole that later heals).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { DelayLane } from '../../../runtime/hosts/delay-lane.js';

export type ProxyMode =
  | { kind: 'pass' }
  /** Every chunk, both ways, is delivered `ms` later (order kept). */
  | { kind: 'latency'; ms: number }
  /** Open connections are destroyed and new ones refused (closed at once) while in this mode. */
  | { kind: 'drop' }
  /** Nothing is read or forwarded and nothing is closed; leaving the mode delivers what queued up (TCP healing). */
  | { kind: 'stall' };

interface Pair {
  client: Socket;
  upstream: Socket;
  lanes: DelayLane[];
}

export class FaultProxy {
  private mode: ProxyMode = { kind: 'pass' };
  private readonly pairs = new Set<Pair>();
  /** Connections accepted over the proxy's life. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  /** Listens on a free loopback port and forwards to `target` (e.g. a nats-server's client port). */
  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address');
    return new FaultProxy(server, address.port, { host: target.host ?? '127.0.0.1', port: target.port });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get current(): ProxyMode {
    return this.mode;
  }

  /** Open connections through the proxy. */
  get open(): number {
    return this.pairs.size;
  }

  setMode(mode: ProxyMode): void {
    const was = this.mode;
    this.mode = mode;
    if (mode.kind === 'drop') for (const p of [...this.pairs]) this.close(p);
    if (mode.kind === 'stall') for (const p of this.pairs) this.pausePair(p);
    if (was.kind === 'stall' && mode.kind !== 'stall') for (const p of this.pairs) this.resumePair(p);
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.mode.kind === 'drop') {
      client.destroy();
      return;
    }
    const upstream = connect({ host: this.target.host, port: this.target.port });
    const delay = () => (this.mode.kind === 'latency' ? this.mode.ms : 0);
    const pair: Pair = { client, upstream, lanes: [] };
    const mayFlow = () => this.mode.kind !== 'stall';
    pair.lanes.push(new DelayLane(client, upstream, delay, mayFlow), new DelayLane(upstream, client, delay, mayFlow));
    this.pairs.add(pair);
    const onGone = () => this.close(pair);
    client.on('error', onGone);
    upstream.on('error', onGone);
    client.on('close', onGone);
    upstream.on('close', onGone);
    if (this.mode.kind === 'stall') this.pausePair(pair);
    else this.resumePair(pair);
  }

  private pausePair(p: Pair): void {
    p.client.pause();
    p.upstream.pause();
  }

  private resumePair(p: Pair): void {
    p.client.resume();
    p.upstream.resume();
  }

  private close(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    for (const l of p.lanes) l.stop();
    p.client.destroy();
    p.upstream.destroy();
  }

  async stop(): Promise<void> {
    for (const p of [...this.pairs]) this.close(p);
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
