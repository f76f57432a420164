// A secure deployment on this machine: its CA and certificates, its NATS authority, and the credentials of
// every role, all in one state directory (secrets 0600). Made on first start, reused after.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credsAuthenticator, type ConnectionOptions } from 'nats';
import { authConfig, Authority, type Permissions, type ServerAuth } from '../transport/auth.js';
import type { NatsAuth } from '../transport/connection.js';
import { ANY } from '../transport/subjects.js';
import { ensureTls, type TlsFiles } from '../transport/tls.js';
import { clientPermissions, controllerPermissions, expertPermissions, followerPermissions, gatePermissions, monitorPermissions, operatorPermissions, supervisorPermissions } from './permissions.js';

const PROBE_SUBJECTS = '_EAAS.cluster_probe.>';

export interface SecureDeployment {
  stateDir: string;
  tls: TlsFiles;
  serverAuth: ServerAuth;
  /** How the cluster's mesh probe connects. */
  probe: Partial<ConnectionOptions>;
  /** The credentials users are handed: a client (generate, the HTTP API), a monitor (status, placement, dashboard), an operator (retire). */
  users: { client: string; monitor: string; operator: string };
  /** A node process running gate, supervisor and API front on one connection; `elastic`: also a controller, and a supervisor that follows the placement. */
  nodeAuth(model: string, node: string, elastic?: boolean): Promise<NatsAuth>;
  /** One expert actor: only its own dispatch subject and its own events. */
  expertAuth(model: string, node: string, instance: string): Promise<NatsAuth>;
  /** A node that runs only a placement controller (`eaas node --role controller`). */
  controllerAuth(model: string, node: string): Promise<NatsAuth>;
}

/** The union of roles one connection serves; its inbox is the first role's. */
function union(...ps: Permissions[]): Permissions {
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    pub: uniq(ps.flatMap((p) => p.pub)),
    sub: uniq(ps.flatMap((p) => p.sub)),
    responses: Math.max(...ps.map((p) => p.responses ?? 0)) || undefined,
    inboxPrefix: ps.find((p) => p.inboxPrefix)?.inboxPrefix,
  };
}

/** The credentials handed to people: a client (generate, the HTTP API), a monitor (status, placement, dashboard), an operator (retire). */
async function userCreds(authority: Authority, model: string): Promise<SecureDeployment['users']> {
  return {
    client: await authority.creds('client', clientPermissions('client')),
    monitor: await authority.creds('monitor', monitorPermissions('monitor', model)),
    operator: await authority.creds('operator', operatorPermissions('operator')),
  };
}

/** `model`: the served model, whose placement bucket the monitor may read. */
export async function prepareSecure(stateDir: string, model: string): Promise<SecureDeployment> {
  const tls = ensureTls(join(stateDir, 'tls'));
  const authority = Authority.open(join(stateDir, 'auth'));
  const serverAuth = await authority.serverAuth();
  const probeCreds = await authority.creds('cluster-probe', { pub: [PROBE_SUBJECTS], sub: [PROBE_SUBJECTS] });
  const users = await userCreds(authority, model);
  const withCa = (creds: string): NatsAuth => ({ creds, tlsCa: tls.ca });
  return {
    stateDir,
    tls,
    serverAuth,
    probe: { authenticator: credsAuthenticator(readFileSync(probeCreds)), tls: { caFile: tls.ca } },
    users,
    nodeAuth: async (model, node, elastic = false) => {
      const roles = [gatePermissions(model, node), supervisorPermissions(model, node), clientPermissions(`api-${node}`), monitorPermissions(`api-${node}`, model)];
      if (elastic) roles.push(controllerPermissions(model, node), followerPermissions(model, node));
      return withCa(await authority.creds(`node-${node}`, union(...roles)));
    },
    expertAuth: async (model, node, instance) => withCa(await authority.creds(`expert-${instance}`, expertPermissions(model, node, instance))),
    controllerAuth: async (model, node) => withCa(await authority.creds(`controller-${node}`, controllerPermissions(model, node))),
  };
}

/**
 * The secrets of a deployment run elsewhere (Kubernetes): TLS for `hosts`, the servers' `auth.conf`, and the
 * credentials of each role of a fleet whose node names are not known in advance.
 */
export async function exportDeployment(dir: string, model: string, hosts: string[]): Promise<Record<string, string>> {
  const tls = ensureTls(join(dir, 'tls'), hosts);
  const authority = Authority.open(join(dir, 'auth'));
  const authFile = join(dir, 'auth.conf');
  writeFileSync(authFile, authConfig(await authority.serverAuth()));
  const users = await userCreds(authority, model);
  // a fleet's roles for ANY node: the pods' node names are not known in advance
  return {
    'CA (every client and server)': tls.ca,
    'server certificate and key': `${tls.cert}, ${tls.key}`,
    'server auth (include from nats.conf)': authFile,
    gate: await authority.creds('gate', gatePermissions(model, ANY)),
    'supervisor (and its expert actors)': await authority.creds('supervisor', union(supervisorPermissions(model, ANY), expertPermissions(model, ANY, ANY), followerPermissions(model, ANY))),
    controller: await authority.creds('controller', controllerPermissions(model, ANY)),
    'API front / client': users.client,
    monitor: users.monitor,
    operator: users.operator,
  };
}
