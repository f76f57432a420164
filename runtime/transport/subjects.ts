// NATS subjects of the eaas.v1 namespace (namespace first, ids last, every token checked), and the NATS ones eaas
// uses (inboxes, service discovery). Given ANY for a token, a builder makes the pattern a permission or a subscription
// names, so that neither can drift from the subject.
import type { ServiceVerb } from 'nats';
import { SubjectError } from './errors.js';

export const SUBJECT_NAMESPACE = 'eaas';
export const PROTOCOL_VERSION = 'v1';
/** NATS tooling (and JetStream) handles subjects of at most this many tokens well. */
export const MAX_SUBJECT_TOKENS = 16;

// Kept to what every NATS tool and client accepts unquoted.
const UNSAFE_TOKEN_CHARS = /[^a-z0-9_-]/g;
const EMPTY_NAME_TOKEN = '_';

/** Returns `token` if it can stand as one subject token, else throws SubjectError. */
export function validateToken(token: string): string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new SubjectError(`subject token must be a non-empty string, got ${JSON.stringify(token)}`);
  }
  if (/[.*>\s]/.test(token)) {
    throw new SubjectError(`subject token ${JSON.stringify(token)} must not contain '.', '*', '>' or whitespace`);
  }
  // $-prefixed subjects belong to the server and its tooling ($SYS, $SRV, $JS).
  if (token.startsWith('$')) {
    throw new SubjectError(`subject token ${JSON.stringify(token)} must not start with '$'`);
  }
  return token;
}

/** Any one token (`*`) in a pattern. A symbol, not the string: a name given by a user can never become a wildcard. */
export const ANY: unique symbol = Symbol('*');
/** A subject token, or ANY in a pattern. */
export type Token = string | typeof ANY;

/** Maps a free-form model name to a subject token; the same name always gives the same token. */
export function subjectToken(name: string): string {
  const token = name.toLowerCase().replace(UNSAFE_TOKEN_CHARS, '_');
  return token.length > 0 ? token : EMPTY_NAME_TOKEN;
}

/** `eaas.v1.<model>.expert.<instance>.dispatch`: where one expert instance takes dispatches. */
export function expertDispatch(model: Token, instance: Token): string {
  return subject([model, 'expert', instance, 'dispatch']);
}

/** `eaas.v1.<model>.events.>`: subscribe here to hear every event of the model. */
export function eventsWildcard(model: string): string {
  return subject([model, 'events'], '>');
}

/** The instance token of an event about a whole node (e.g. an escalation), not one instance. */
export const NODE_EVENT = '_';

/**
 * `eaas.v1.<model>.events.<kind>.<node>.<instance>`: an event of one kind about one instance (or the node).
 * Node and instance are subject tokens so that permissions can say who may speak for whom.
 */
export function eventSubject(model: Token, kind: Token, node: Token, instance: Token = NODE_EVENT): string {
  return subject([model, 'events', kind, node, instance]);
}

/** `eaas.v1.<model>.generate`: where generate requests go. */
export function generate(model: Token): string {
  return subject([model, 'generate']);
}

/** `eaas.v1.<model>.gate.<node>.reconnected`: a gate is back on NATS after a disconnect (requests sent meanwhile may be lost). */
export function gateReconnected(model: Token, node: Token): string {
  return subject([model, 'gate', node, 'reconnected']);
}

/** Every gate of the model's reconnect notice. */
export function gateReconnectedWildcard(model: string): string {
  return gateReconnected(model, ANY);
}

/** `eaas.v1.<model>.load.<node>`: a gate's load reports. */
export function loadReport(model: Token, node: Token): string {
  return subject([model, 'load', node]);
}

/** `eaas.v1.<model>.load.<node>.<instance>`: an expert actor's own load reports. */
export function actorLoad(model: Token, node: Token, instance: Token): string {
  return subject([model, 'load', node, instance]);
}

/** `eaas.v1.<model>.load.*.*`: every expert actor's load reports (not the gates'). */
export function actorLoadWildcard(model: string): string {
  return actorLoad(model, ANY, ANY);
}

/** `eaas.v1.<model>.load.*`: every gate's load reports (not the expert actors'). */
export function gateLoadWildcard(model: string): string {
  return loadReport(model, ANY);
}

/** `eaas.v1.<model>.load.>`: every load report of the model, the gates' and the expert actors'. */
export function loadReportWildcard(model: string): string {
  return subject([model, 'load'], '>');
}

/** `eaas.v1.<model>.pulse.<node>`: a gate's traffic each second (tokens, requests, latencies, incidents), for live views. */
export function gatePulse(model: Token, node: Token): string {
  return subject([model, 'pulse', node]);
}

/** Every gate's pulse. */
export function gatePulseWildcard(model: string): string {
  return gatePulse(model, ANY);
}

/** `eaas.v1.<model>.gate.<node>.cancel`: where one gate takes cancellations of its streamed requests. */
export function gateCancel(model: Token, node: Token): string {
  return subject([model, 'gate', node, 'cancel']);
}

/** `eaas.v1.<model>.gate.<node>.resume`: where one gate takes up its streams again on another inbox. */
export function gateResume(model: Token, node: Token): string {
  return subject([model, 'gate', node, 'resume']);
}

/** `eaas.v1.<model>.supervisor.<node>.<endpoint>`: a supervisor's control endpoints. */
export function supervisorEndpoint(model: Token, node: Token, endpoint: 'status' | 'retire' | typeof ANY): string {
  return subject([model, 'supervisor', node, endpoint]);
}

/** NATS's own inbox prefix (nats.js `createInbox`): replies to requests come there. */
const INBOX = '_INBOX';

/** `_INBOX.<who>`: the inbox prefix of one user (any name, mapped by subjectToken); its JWT lets only it read there. */
export function inboxPrefix(who: string): string {
  return `${INBOX}.${subjectToken(who)}`;
}

/** `<prefix>.>`: every inbox under a prefix. */
export function inboxWildcard(prefix: string): string {
  return `${prefix}.>`;
}

/** `_INBOX.>`: every inbox, whoever's. */
export const ANY_INBOX = inboxWildcard(INBOX);

/** The subject prefix of NATS micro service discovery (nats.js services; not exported by nats.js). */
const SERVICE_API = '$SRV';

/** `$SRV.>`: every discovery request (PING, INFO, STATS) to every service. */
export const DISCOVERY_WILDCARD = `${SERVICE_API}.>`;

/** `$SRV.<verb>.<service>`: one discovery request to every instance of one service. */
export function discovery(verb: `${ServiceVerb}`, service: string): string {
  return `${SERVICE_API}.${verb}.${validateToken(service)}`;
}

/** `$JS.API.<tokens>`: JetStream's API (the server's own), e.g. `STREAM.INFO.<stream>`. */
export function jetStreamApi(...tokens: string[]): string {
  return ['$JS', 'API', ...tokens].join('.');
}

/** `$JS.FC.<stream>.>`: the flow control of a stream's consumers, which the consuming client answers. */
export function jetStreamFlowControl(stream: string): string {
  return `$JS.FC.${stream}.>`;
}

/** `$KV.<bucket>.<key>`: where a KV bucket's key is written (a key may end in `*` or `>` in a pattern). */
export function kvKey(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}

/** `KV_<bucket>`: the stream that holds a KV bucket. */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** The subject of `tokens` in the namespace; `rest` ('>') also matches every subject below it. */
function subject(tokens: Token[], rest?: '>'): string {
  const all = [SUBJECT_NAMESPACE, PROTOCOL_VERSION, ...tokens.map((t) => (t === ANY ? '*' : validateToken(t)))];
  if (rest !== undefined) all.push(rest);
  if (all.length > MAX_SUBJECT_TOKENS) {
    throw new SubjectError(`subject ${all.join('.')} has more than ${MAX_SUBJECT_TOKENS} tokens`);
  }
  return all.join('.');
}
