// A private CA and a server certificate for loopback and this host, made with Debian's `openssl` on first use.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TlsSetupError } from './errors.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Certificates last this long; a state directory older than that needs its certs removed to be remade. */
const DAYS = 825;
const SECRET = 0o600;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n').pop();
    throw new TlsSetupError(`openssl ${args[0]} failed: ${stderr || (err as Error).message} (install it with "apt-get install openssl")`, { cause: err });
  }
}

/** The CA and server certificate in `dir`, made once (keys 0600); the server certificate names 127.0.0.1, localhost, this host and `hosts`. */
export function ensureTls(dir: string, hosts: string[] = []): TlsFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
  if (existsSync(files.ca) && existsSync(files.cert) && existsSync(files.key)) return files;
  const days = String(DAYS);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', days, '-subj', '/CN=eaas CA'], dir);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=eaas nats-server'], dir);
  const names = [...new Set(['localhost', hostname(), ...hosts])].map((h) => `DNS:${h}`);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=IP:127.0.0.1,${names.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server.pem', '-days', days, '-extfile', 'server.ext'], dir);
  for (const f of ['ca-key.pem', 'server-key.pem']) chmodSync(join(dir, f), SECRET);
  return files;
}
