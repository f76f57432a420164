// The least subject permissions of every role of a secure deployment: only who must may (README, Architecture, "Security").
// Every pattern comes from the subject builders (ANY in place of an id), so a subject and its permission cannot drift.
import { watchedSubjects } from '../../actors/dashboard/watched.js';
import { actualKey, PLACEMENT_CONTROLLER_KEYS, placementBucket } from '../../actors/protocol/placement-store.js';
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
    sub: [subjects.generate(model), subjects.gateCancel(model, node), subjects.gateResume(model, node), subjects.eventsWildcard(model), DISCOVERY_WILDCARD, subjects.inboxWildcard(prefix)],
    pub: [subjects.expertDispatch(model, ANY), subjects.loadReport(model, node), subjects.gatePulse(model, node), subjects.gateReconnected(model, node), DISCOVERY_WILDCARD, ANY_INBOX],
    responses: STREAM_ANSWERS,
    inboxPrefix: prefix,
  };
}

/** A client (or an HTTP front): may ask for generations, cancel and resume its own streams, find the gates, read its own inbox, and hear gates' reconnect notices. */
export function clientPermissions(name: string): Permissions {
  const prefix = inbox('client', name);
  return {
    sub: [subjects.inboxWildcard(prefix), subjects.gateReconnected(ANY, ANY)],
    pub: [subjects.generate(ANY), subjects.gateCancel(ANY, ANY), subjects.gateResume(ANY, ANY), subjects.discovery('PING', GATE_SERVICE), subjects.discovery('INFO', GATE_SERVICE)],
    inboxPrefix: prefix,
  };
}

/**
 * A monitor (`eaas status`, `eaas placement`, `eaas dashboard`): reads discovery and stats, hears what the cluster
 * publishes of any model (events, load reports, gate pulses and reconnects), and with `model` reads its placement
 * bucket; it writes nothing.
 */
export function monitorPermissions(name: string, model?: string): Permissions {
  const prefix = inbox('monitor', name);
  return { sub: [subjects.inboxWildcard(prefix), ...Object.values(watchedSubjects(ANY))], pub: [DISCOVERY_WILDCARD, ...(model ? placementRead(model) : [])], inboxPrefix: prefix };
}

/**
 * Reading the placement bucket of `model` (JetStream KV): its stream's info, gets, and the consumers a watch or a
 * key listing makes, which deliver to the reader's own inbox; the flow control those consumers ask for.
 */
function placementRead(model: string): string[] {
  const stream = subjects.kvStream(placementBucket(model));
  return [
    subjects.jetStreamApi('INFO'),
    subjects.jetStreamApi('STREAM', 'INFO', stream),
    subjects.jetStreamApi('STREAM', 'MSG', 'GET', stream),
    subjects.jetStreamApi('DIRECT', 'GET', stream, '>'),
    subjects.jetStreamApi('CONSUMER', 'CREATE', stream),
    subjects.jetStreamApi('CONSUMER', 'CREATE', stream, '>'),
    subjects.jetStreamFlowControl(stream),
  ];
}

/** Reading the placement bucket, and making it when it is missing (its first controller or follower does). */
function placementOpen(model: string): string[] {
  const stream = subjects.kvStream(placementBucket(model));
  return [...placementRead(model), subjects.jetStreamApi('STREAM', 'CREATE', stream), subjects.jetStreamApi('STREAM', 'UPDATE', stream)];
}

/** A placement controller: hears every load report; writes the desired placement, its own record and the lease (nothing else of the bucket). */
export function controllerPermissions(model: string, node: Token): Permissions {
  const prefix = inbox('controller', node);
  const bucket = placementBucket(model);
  return {
    sub: [subjects.gateLoadWildcard(model), subjects.actorLoadWildcard(model), subjects.inboxWildcard(prefix)],
    pub: [...placementOpen(model), ...PLACEMENT_CONTROLLER_KEYS.map((k) => subjects.kvKey(bucket, k))],
    inboxPrefix: prefix,
  };
}

/** A supervisor that follows the desired placement: reads the bucket and writes its own node's `actual` key only. */
export function followerPermissions(model: string, node: Token): Permissions {
  const prefix = inbox('supervisor', node);
  return {
    sub: [subjects.inboxWildcard(prefix)],
    pub: [...placementOpen(model), subjects.kvKey(placementBucket(model), actualKey(node === ANY ? '*' : node))],
    inboxPrefix: prefix,
  };
}

/** An operator (`eaas retire`): control requests to supervisors, and discovery to find them. */
export function operatorPermissions(name: string): Permissions {
  const prefix = inbox('operator', name);
  return { sub: [subjects.inboxWildcard(prefix)], pub: [subjects.supervisorEndpoint(ANY, ANY, 'retire'), DISCOVERY_WILDCARD], inboxPrefix: prefix };
}
