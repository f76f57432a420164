// Connects to NATS with the defaults every eaas process shares.
import { NatsConnectError } from './errors.js';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';

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


/** Connects to the first reachable server; `servers` may be a list or a comma-separated string. */
export async function connectNats(servers: string | string[], name: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
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
      ...extra,
    });
  } catch (cause) {
    throw new NatsConnectError(list, cause instanceof Error ? cause.message : String(cause), { cause });
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
