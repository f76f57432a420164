// Failures of the transport layer: codec, subjects, connections, embedded servers.

/** A message or tensor that cannot be encoded or decoded as it is. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
}

/** A subject or subject token that NATS (or our namespace rules) would not accept. */
export class SubjectError extends Error {
  override readonly name = 'SubjectError';
}

/** No NATS server could be reached (or none was named). */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
  constructor(readonly servers: string[], problem: string, options?: { cause?: unknown }) {
    super(
      `cannot connect to NATS at ${servers.join(', ') || '(no server given)'}: ${problem}; ` +
        'pass the right URL with --nats, or start a server with "nats-server"',
      options,
    );
  }
}

/** The servers answered but refused who we are (no, wrong or expired credentials, or no TLS where it is required). */
export class NatsAuthError extends Error {
  override readonly name = 'NatsAuthError';
  constructor(readonly servers: string[], problem: string, options?: { cause?: unknown }) {
    super(
      `NATS at ${servers.join(', ')} refused this connection: ${problem}; ` +
        'pass --creds FILE (a user of this deployment, e.g. the one `eaas up --secure` names) and --tls-ca FILE',
      options,
    );
  }
}

/** No nats-server binary where we look for it. */
export class NatsServerMissingError extends Error {
  override readonly name = 'NatsServerMissingError';
  constructor(options?: { cause?: unknown }) {
    super(
      'nats-server not found on PATH: install it with "apt-get install nats-server" (Debian/Ubuntu) ' +
        'or from https://github.com/nats-io/nats-server/releases',
      options,
    );
  }
}

/** nats-server exited or stayed silent before it was ready; the first line carries the server's own reason, then its stderr. */
export class NatsServerStartError extends Error {
  override readonly name = 'NatsServerStartError';
  constructor(problem: string, stderrTail: string[], options?: { cause?: unknown }) {
    const log = stderrTail.length > 0 ? stderrTail.join('\n') : '(nothing)';
    super(`nats-server did not start: ${problem}${serverReason(stderrTail)}\n--- nats-server stderr (last lines) ---\n${log}`, options);
  }
}

/** The last fatal or error line of a server log, as ": <text>" plus a hint when we know one; "" when there is none. */
function serverReason(tail: string[]): string {
  const line = [...tail].reverse().find((l) => /\[(FTL|ERR)\]/.test(l));
  if (!line) return '';
  const text = line.replace(/^.*?\[(FTL|ERR)\]\s*/, '');
  const hint = /address already in use/.test(text)
    ? ' (another process holds the port, perhaps a nats-server left by an earlier run: `ss -ltnp` names it; choose another --nats-port or stop it)'
    : '';
  return `: ${text}${hint}`;
}

/** The cluster's servers started but did not all route messages to each other in time. */
export class NatsClusterError extends Error {
  override readonly name = 'NatsClusterError';
}

/** An embedded nats-server died and could not be kept running. */
export class NatsServerLostError extends Error {
  override readonly name = 'NatsServerLostError';
}

/** The CA or certificates for TLS could not be made. */
export class TlsSetupError extends Error {
  override readonly name = 'TlsSetupError';
}

/** A credentials or CA file given for a secure deployment cannot be used. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}
