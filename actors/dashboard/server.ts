// The dashboard's own HTTP server (`eaas dashboard`), for a cluster without an API front: /dashboard and its
// files, `/` sent there, /health.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from 'nats';
import type { ApiKeys } from '../protocol/api-keys.js';
import { Dashboard, DASHBOARD_PATH, isDashboardPath } from './client.js';

export interface DashboardServerOptions {
  nc: NatsConnection;
  model: string;
  keys: ApiKeys;
  host?: string;
  /** 0: a free port. */
  port: number;
}

export class DashboardServer {
  private constructor(
    private readonly server: Server,
    private readonly dashboard: Dashboard,
  ) {}

  static async start(o: DashboardServerOptions): Promise<DashboardServer> {
    const dashboard = await Dashboard.start({ nc: o.nc, model: o.model, keys: o.keys });
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (isDashboardPath(path)) {
        dashboard.handle(req, res, path).catch(() => res.headersSent || res.writeHead(500).end());
        return;
      }
      if (path === '/') res.writeHead(302, { location: DASHBOARD_PATH }).end();
      else if (path === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      else res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route ${req.method} ${path}: the dashboard is at ${DASHBOARD_PATH}\n`);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.port, o.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await dashboard.stop();
      throw err;
    }
    return new DashboardServer(server, dashboard);
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}${DASHBOARD_PATH}`;
  }

  async stop(): Promise<void> {
    await this.dashboard.stop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
