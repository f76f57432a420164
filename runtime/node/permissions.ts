// The least subject permissions of every role of a secure deployment: only who must may (README, Architecture, "Security").
// Every pattern comes from the subject builders (ANY in place of an id), so a subject and its permission cannot drift.
import { watchedSubjects } from '../../actors/dashboard/watched.js';
import { GATE_SERVICE } from '../../actors/protocol/services.js';
import type { Permissions } from '../transport/auth.js';
import * as subjects from '../transport/subjects.js';
import { ANY, ANY_INBOX, DISCOVERY_WILDCARD, type Token } from '../transport/subjects.js';

/** Answers an actor may send to one request: a streamed generation answers once per token. */
const STREAM_ANSWERS = 1_000_000;

/** A user's own inboxes, `_INBOX.<role>-<who>`: nobody else may subscribe there. Credentials for ANY node share one (`<role>-_`). */
const inbox = (role: string, who: Token) => subjects.inboxPrefix(`${role}-${who === ANY ? '*' : who}`);

/** An expert actor: its own dispatch subject and discovery; it publishes only events and load reports about itself, and answers. */
export function expertPermissions(model: string, node: Token, instance: Token): Permissions {
  return {
    sub: [subjects.expertDispatch(model, instance), DISCOVERY_WILDCARD],
    pub: [subjects.eventSubject(model, ANY, node, instance), subjects.actorLoad(model, node, instance)],
    responses: 1,
  };
}

/** A supervisor: its node's control endpoints; events about its node and its children, and hears every event (an actor down leaves its node's metrics); discovery (last replica check); every actor's load report (its node's metrics). */
export function supervisorPermissions(model: string, node: Token): Permissions {
  const prefix = inbox('supervisor', node);
  return {
    sub: [subjects.supervisorEndpoint(model, node, ANY), subjects.actorLoadWildcard(model), subjects.eventsWildcard(model), DISCOVERY_WILDCARD, subjects.inboxWildcard(prefix)],
    pub: [subjects.eventSubject(model, ANY, node, ANY), DISCOVERY_WILDCARD],
    responses: 1,
    inboxPrefix: prefix,
  };
}

/**
 * A gate: serves generate and its cancel subject, hears events, dispatches to any expert actor, discovers them; announces its reconnects.
 * It answers clients in any inbox: after a reconnect to another server, the request-scoped answer permission
 * (allow_responses) it got on the old one does not exist there.
 */
export function gatePermissions(model: string, node: Token): Permissions {
  const prefix = inbox('gate', node);
  return {
    sub: [subjects.generate(model), subjects.gateCancel(model, node), subjects.eventsWildcard(model), DISCOVERY_WILDCARD, subjects.inboxWildcard(prefix)],
    pub: [subjects.expertDispatch(model, ANY), subjects.loadReport(model, node), subjects.gatePulse(model, node), subjects.gateReconnected(model, node), DISCOVERY_WILDCARD, ANY_INBOX],
    responses: STREAM_ANSWERS,
    inboxPrefix: prefix,
  };
}

/** A client (or an HTTP front): may ask for generations and cancel its own, find the gates, read its own inbox, and hear gates' reconnect notices. */
export function clientPermissions(name: string): Permissions {
  const prefix = inbox('client', name);
  return {
    sub: [subjects.inboxWildcard(prefix), subjects.gateReconnected(ANY, ANY)],
    pub: [subjects.generate(ANY), subjects.gateCancel(ANY, ANY), subjects.discovery('PING', GATE_SERVICE), subjects.discovery('INFO', GATE_SERVICE)],
    inboxPrefix: prefix,
  };
}

/** A monitor (`eaas status`, `eaas dashboard`): reads discovery and stats, and hears what the cluster publishes of any model (events, load reports, gate pulses and reconnects); it sends nothing else. */
export function monitorPermissions(name: string): Permissions {
  const prefix = inbox('monitor', name);
  return { sub: [subjects.inboxWildcard(prefix), ...Object.values(watchedSubjects(ANY))], pub: [DISCOVERY_WILDCARD], inboxPrefix: prefix };
}

/** An operator (`eaas retire`): control requests to supervisors, and discovery to find them. */
export function operatorPermissions(name: string): Permissions {
  const prefix = inbox('operator', name);
  return { sub: [subjects.inboxWildcard(prefix)], pub: [subjects.supervisorEndpoint(ANY, ANY, 'retire'), DISCOVERY_WILDCARD], inboxPrefix: prefix };
}
