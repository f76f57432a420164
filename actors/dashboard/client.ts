// The dashboard's face: its page, its assets and its live stream under /dashboard, for the API front or a server of
// its own (`eaas dashboard`). Read-only; behind the API keys when there are any (a browser signs in once, by cookie).
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { KEY_COOKIE, type ApiKeys } from '../protocol/api-keys.js';
import { DashboardFeed, type Listener } from './feed.js';

export const DASHBOARD_PATH = '/dashboard';
const STREAM_PATH = `${DASHBOARD_PATH}/stream`;
const LOGIN_PATH = `${DASHBOARD_PATH}/login`;
/** A comment line keeps idle proxies from closing the stream. */
const KEEPALIVE_MS = 15_000;

/** The page's files, read once: actors/dashboard/assets beside this source, which the compiled code (dist/) finds up the tree. */
const ASSETS_DIR = [new URL('./assets/', import.meta.url), new URL('../../../actors/dashboard/assets/', import.meta.url)].map((u) => fileURLToPath(u)).find((d) => existsSync(d))!;
const ASSETS: Record<string, { file: string; type: string }> = {
  [DASHBOARD_PATH]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${DASHBOARD_PATH}/dashboard.js`]: { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  [`${DASHBOARD_PATH}/dashboard.css`]: { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

const SIGN_IN_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>eaas dashboard: sign in</title><link rel="icon" href="data:,"></head>
<body style="font-family:sans-serif;margin:4em auto;max-width:28em"><h1>eaas dashboard</h1>
<p>This cluster's HTTP front takes API keys. Give one to watch it (it stays in this browser as a cookie for this page only).</p>
<form method="post" action="${LOGIN_PATH}"><input name="key" type="password" autofocus size="40" aria-label="API key"> <button>Sign in</button></form></body></html>`;

/** The paths the dashboard answers. */
export const isDashboardPath = (path: string) => path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`);

/** Each message's SSE text, made once however many pages are open. */
const encoded = new WeakMap<object, string>();
function sseText(m: Parameters<Listener>[0]): string {
  let text = encoded.get(m);
  if (text === undefined) {
    text = m.kind === 'snapshot' ? `event: snapshot\ndata: ${JSON.stringify(m.snapshot)}\n\n` : `event: event\ndata: ${JSON.stringify(m.live)}\n\n`;
    encoded.set(m, text);
  }
  return text;
}

export class Dashboard {
  private readonly assets = new Map<string, Buffer>();

  private constructor(
    readonly feed: DashboardFeed,
    private readonly keys: ApiKeys,
  ) {
    for (const [path, a] of Object.entries(ASSETS)) this.assets.set(path, readFileSync(ASSETS_DIR + a.file));
  }

  static async start(o: { nc: NatsConnection; model: string; keys: ApiKeys; dims?: { layers: number; experts: number } }): Promise<Dashboard> {
    return new Dashboard(await DashboardFeed.start({ nc: o.nc, model: o.model, dims: o.dims }), o.keys);
  }

  /** Answers a request to one of the dashboard's paths. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (path === LOGIN_PATH && method === 'POST') return this.signIn(req, res);
    if (method !== 'GET') {
      res.writeHead(405, { allow: path === LOGIN_PATH ? 'POST' : 'GET, HEAD', 'content-type': 'text/plain' });
      return void res.end(`${req.method} is not allowed on ${path}\n`);
    }
    if (!this.keys.authorizes(req, true)) {
      // the page asks for a key; its stream and files say 401 as the API does
      if (path === DASHBOARD_PATH) return this.page(res, 401, SIGN_IN_PAGE);
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
      return void res.end('a valid API key is required\n');
    }
    if (path === STREAM_PATH) return this.stream(req, res);
    const asset = ASSETS[path];
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return void res.end(`no dashboard file ${path}\n`);
    }
    res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
    res.end(this.assets.get(path));
  }

  async stop(): Promise<void> {
    await this.feed.stop();
  }

  /** Server-Sent Events: `snapshot` (the whole picture, once a second) and `event` (each as it happens). */
  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const send: Listener = (m) => {
      if (!res.writableEnded) res.write(sseText(m));
    };
    const keepalive = setInterval(() => res.writableEnded || res.write(': keepalive\n\n'), KEEPALIVE_MS);
    const stop = this.feed.listen(send);
    req.on('close', () => {
      clearInterval(keepalive);
      stop();
    });
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<string>((resolve, reject) => {
      let text = '';
      req.setEncoding('utf8').on('data', (c: string) => {
        text += c;
        // a key is short: anything longer is not a sign-in
        if (text.length > 4096) req.destroy();
      });
      req.on('end', () => resolve(text)).on('error', reject);
    });
    const key = new URLSearchParams(body).get('key') ?? undefined;
    if (!this.keys.required || !this.keys.accepts(key)) return this.page(res, 401, SIGN_IN_PAGE);
    res.writeHead(303, { location: DASHBOARD_PATH, 'set-cookie': `${KEY_COOKIE}=${encodeURIComponent(key!)}; Path=${DASHBOARD_PATH}; HttpOnly; SameSite=Strict` });
    res.end();
  }

  private page(res: ServerResponse, status: number, html: string): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  }
}
