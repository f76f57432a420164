// Decentralised NATS auth: an operator, a system account and one account for eaas, users with JWTs carrying
// their subject permissions, written as standard `.creds` files (the `nats` CLI and every client read them).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromSeed, type KeyPair } from '@nats-io/jwt';

/** What a user may do: publish and subscribe allow lists, and how many answers it may send to a request. */
export interface Permissions {
  pub: string[];
  sub: string[];
  /** Answers allowed per request received (allow_responses); undefined: may not answer. */
  responses?: number;
  /** Its inbox prefix, so that nobody else can read its replies. */
  inboxPrefix?: string;
}

/** The part of a server's configuration that makes it trust the operator and know the accounts. */
export interface ServerAuth {
  operatorJwt: string;
  systemAccount: string;
  /** Account public key -> account JWT (resolver: MEMORY). */
  accounts: Record<string, string>;
}

const SECRET = 0o600;

/** The server configuration lines that trust the operator and preload the accounts (an `auth.conf` include). */
export function authConfig(auth: ServerAuth): string {
  const lines = [`operator: ${JSON.stringify(auth.operatorJwt)}`, `system_account: ${JSON.stringify(auth.systemAccount)}`, 'resolver: MEMORY', 'resolver_preload: {'];
  for (const [account, jwt] of Object.entries(auth.accounts)) lines.push(`  ${account}: ${JSON.stringify(jwt)}`);
  return [...lines, '}'].join('\n') + '\n';
}
/** The eaas account's JetStream: storage for the placement buckets, and any number of the short-lived consumers their watches make. */
const JETSTREAM_LIMITS = { mem_storage: 64 * 2 ** 20, disk_storage: 1024 * 2 ** 20, streams: 64, consumer: -1 };

/** A response permission lasts this long after the request: long enough for a streamed generation. */
const RESPONSE_TTL_NS = 15 * 60 * 1e9;

/** The keys of an eaas deployment, kept (0600) in `dir`: made on first use, read back after. */
export class Authority {
  private constructor(
    private readonly dir: string,
    private readonly operator: KeyPair,
    private readonly system: KeyPair,
    private readonly account: KeyPair,
  ) {}

  static open(dir: string): Authority {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = (name: string, make: () => KeyPair): KeyPair => {
      const file = join(dir, `${name}.nk`);
      if (existsSync(file)) return fromSeed(new TextEncoder().encode(readFileSync(file, 'utf8').trim()));
      const kp = make();
      writeFileSync(file, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: SECRET });
      return kp;
    };
    return new Authority(dir, key('operator', createOperator), key('system-account', createAccount), key('account', createAccount));
  }

  async serverAuth(): Promise<ServerAuth> {
    const operatorJwt = await encodeOperator('eaas', this.operator, { system_account: this.system.getPublicKey() });
    const accounts: Record<string, string> = {
      [this.system.getPublicKey()]: await encodeAccount('SYS', this.system, {}, { signer: this.operator }),
      // no connection limits: subject permissions are per user; JetStream for the placement buckets (a few KB each), bounded
      [this.account.getPublicKey()]: await encodeAccount('eaas', this.account, { limits: { conn: -1, subs: -1, payload: -1, data: -1, imports: -1, exports: -1, wildcards: true, leaf: -1, ...JETSTREAM_LIMITS } }, { signer: this.operator }),
    };
    return { operatorJwt, systemAccount: this.system.getPublicKey(), accounts };
  }

  /** Writes `<name>.creds` (0600) for a new user with `p`, and returns its path. */
  async creds(name: string, p: Permissions): Promise<string> {
    const user = createUser();
    const jwt = await encodeUser(name, user, this.account, {
      pub: { allow: p.pub },
      sub: { allow: p.sub },
      ...(p.responses !== undefined ? { resp: { max: p.responses, ttl: RESPONSE_TTL_NS } } : {}),
    });
    const file = join(this.dir, `${name}.creds`);
    writeFileSync(file, fmtCreds(jwt, user), { mode: SECRET });
    chmodSync(file, SECRET);
    return file;
  }
}
