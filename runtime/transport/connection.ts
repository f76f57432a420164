// Connects to NATS with the defaults every eaas process shares.
import { readFileSync } from 'node:fs';
import { CredentialsError, NatsAuthError, NatsConnectError } from './errors.js';
import { connect, createInbox, credsAuthenticator, ErrorCode, type ConnectionOptions, type NatsConnection } from 'nats';

/** Never give up reconnecting: an actor outlives server restarts instead of dying with them. */
export const MAX_RECONNECT_ATTEMPTS = -1;
export const RECONNECT_TIME_WAIT_MS = 250;
export const RECONNECT_JITTER_MS = 100;
/** With MAX_PINGS_OUT, a silent (dead or paused) server is noticed within about 4 s, not minutes. */
export const PING_INTERVAL_MS = 2_000;
export const MAX_PINGS_OUT = 2;
/** How long one attempt at the first connection may take before it counts as failed. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** A drain that takes longer (server gone, peers stuck) is cut short by a close. */
export const DRAIN_TIMEOUT_MS = 2_000;


/** How a process proves who it is to a secure deployment: a `.creds` file, and the CA its servers' certificates chain to. */
export interface NatsAuth {
  creds?: string;
  tlsCa?: string;
}

/** The inbox prefix a `.creds` user may subscribe to (`_INBOX.<who>.>` in its JWT), so its requests get answers. */
function inboxPrefixOf(credsText: string): string | undefined {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(credsText)?.[1];
  const claims = jwt ? (JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as { nats?: { sub?: { allow?: string[] } } }) : undefined;
  const allowed = claims?.nats?.sub?.allow?.find((s) => /^_INBOX\.[^.*>]+\.>$/.test(s));
  return allowed?.slice(0, -2);
}

/** Connection options for `auth`: the creds authenticator, the user's inbox prefix, TLS with its CA. */
function authOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  const out: Partial<ConnectionOptions> = {};
  if (auth.creds) {
    let text: string;
    try {
      text = readFileSync(auth.creds, 'utf8');
    } catch (cause) {
      throw new CredentialsError(`cannot read the credentials file ${auth.creds} (--creds): ${(cause as Error).message}`, { cause });
    }
    out.authenticator = credsAuthenticator(new TextEncoder().encode(text));
    const prefix = inboxPrefixOf(text);
    if (prefix) out.inboxPrefix = prefix;
  }
  if (auth.tlsCa) {
    try {
      readFileSync(auth.tlsCa);
    } catch (cause) {
      throw new CredentialsError(`cannot read the CA file ${auth.tlsCa} (--tls-ca): ${(cause as Error).message}`, { cause });
    }
    out.tls = { caFile: auth.tlsCa };
  }
  return out;
}

/** A new inbox under the connection's own prefix (a secure deployment lets a user read only its own inboxes). */
export function newInbox(nc: NatsConnection): string {
  // nats.js keeps the options it was given but does not type them on the connection
  return createInbox((nc as unknown as { options?: ConnectionOptions }).options?.inboxPrefix);
}

/** NATS's codes for refused credentials, and Node's TLS codes for a certificate we cannot trust (or a TLS we did not ask for). */
function refusedWhoWeAre(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return [ErrorCode.AuthorizationViolation, ErrorCode.AuthenticationExpired, ErrorCode.AuthenticationTimeout, ErrorCode.ServerOptionNotAvailable].includes(code as ErrorCode) || /CERT|TLS|SELF_SIGNED|VERIFY/.test(code);
}

/** Connects to the first reachable server; `servers` may be a list or a comma-separated string. */
export async function connectNats(servers: string | string[], name: string, extra: Partial<ConnectionOptions> = {}, auth: NatsAuth = {}): Promise<NatsConnection> {
  const list = (Array.isArray(servers) ? servers : [servers])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new NatsConnectError(list, 'no server URL given');
  try {
    return await connect({
      servers: list,
      name,
      maxReconnectAttempts: MAX_RECONNECT_ATTEMPTS,
      reconnectTimeWait: RECONNECT_TIME_WAIT_MS,
      reconnectJitter: RECONNECT_JITTER_MS,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      timeout: CONNECT_TIMEOUT_MS,
      // no stack captured per request (two Error objects each): our errors name the subject and the instance
      noAsyncTraces: true,
      ...authOptions(auth),
      ...extra,
    });
  } catch (cause) {
    const problem = cause instanceof Error ? cause.message : String(cause);
    if (refusedWhoWeAre(cause)) throw new NatsAuthError(list, problem, { cause });
    throw new NatsConnectError(list, problem, { cause });
  }
}

/**
 * Drains and closes a connection, whatever state its server is in: nats.js's drain() gives up
 * silently when the server is gone and leaves the connection reconnecting forever.
 */
export async function closeNats(nc: NatsConnection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)));
  await Promise.race([nc.drain().catch(() => undefined), bound]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
