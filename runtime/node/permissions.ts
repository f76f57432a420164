// The least subject permissions of every role of a secure deployment: only who must may (README, Architecture, "Security").
import type { Permissions } from '../transport/auth.js';
import { subjectToken } from '../transport/subjects.js';

/** Answers an actor may send to one request: a streamed generation answers once per token. */
const STREAM_ANSWERS = 1_000_000;
const NS = 'eaas.v1';
/** Micro service discovery and stats: requests to it, answers from it. */
const SRV = '$SRV.>';

/** A user's own inboxes: `_INBOX.<who>.>`; nobody else may subscribe there. */
const inbox = (who: string) => `_INBOX.${subjectToken(who)}`;
/** Every inbox: the gate answers clients there, also from another server after a reconnect, where the
 *  request-scoped answer permission (allow_responses) it got on the old server does not exist. */
const ANY_INBOX = '_INBOX.>';

/** An expert actor: its own dispatch subject and discovery; it publishes only events and load reports about itself, and answers. */
export function expertPermissions(model: string, node: string, instance: string): Permissions {
  return {
    sub: [`${NS}.${model}.expert.${instance}.dispatch`, SRV],
    pub: [`${NS}.${model}.events.*.${node}.${instance}`, `${NS}.${model}.load.${node}.${instance}`],
    responses: 1,
  };
}

/** A supervisor: its node's control endpoints; events about its node and its children, and hears every event (an actor down leaves its node's metrics); discovery (last replica check); every actor's load report (its node's metrics). */
export function supervisorPermissions(model: string, node: string): Permissions {
  const prefix = inbox(`supervisor-${node}`);
  return {
    sub: [`${NS}.${model}.supervisor.${node}.*`, `${NS}.${model}.load.*.*`, `${NS}.${model}.events.>`, SRV, `${prefix}.>`],
    pub: [`${NS}.${model}.events.*.${node}.*`, SRV],
    responses: 1,
    inboxPrefix: prefix,
  };
}

/** A gate: serves generate and its cancel subject, hears events, dispatches to any expert actor, discovers them; announces its reconnects. */
export function gatePermissions(model: string, node: string): Permissions {
  const prefix = inbox(`gate-${node}`);
  return {
    sub: [`${NS}.${model}.generate`, `${NS}.${model}.gate.${node}.cancel`, `${NS}.${model}.events.>`, SRV, `${prefix}.>`],
    pub: [`${NS}.${model}.expert.*.dispatch`, `${NS}.${model}.load.${node}`, `${NS}.${model}.gate.${node}.reconnected`, SRV, ANY_INBOX],
    responses: STREAM_ANSWERS,
    inboxPrefix: prefix,
  };
}

/** A client (or an HTTP front): may ask for generations and cancel its own, find the gates, read its own inbox, and hear gates' reconnect notices. */
export function clientPermissions(name: string): Permissions {
  const prefix = inbox(`client-${name}`);
  return {
    sub: [`${prefix}.>`, `${NS}.*.gate.*.reconnected`],
    pub: [`${NS}.*.generate`, `${NS}.*.gate.*.cancel`, '$SRV.PING.eaas-gate', '$SRV.INFO.eaas-gate'],
    inboxPrefix: prefix,
  };
}

/** A monitor (`eaas status`): reads discovery and stats, nothing else. */
export function monitorPermissions(name: string): Permissions {
  const prefix = inbox(`monitor-${name}`);
  return { sub: [`${prefix}.>`], pub: [SRV], inboxPrefix: prefix };
}

/** An operator (`eaas retire`): control requests to supervisors, and discovery to find them. */
export function operatorPermissions(name: string): Permissions {
  const prefix = inbox(`operator-${name}`);
  return { sub: [`${prefix}.>`], pub: [`${NS}.*.supervisor.*.retire`, SRV], inboxPrefix: prefix };
}
