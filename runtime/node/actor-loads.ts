// What a node hears of its model's expert actors' load reports, shown in the process's load metrics.
import type { NatsConnection } from 'nats';
import { MalformedMessageError } from '../../actors/protocol/errors.js';
import { decodeActorLoad, decodeEvent, type ActorLoad } from '../../actors/protocol/messages.js';
import { showActorLoads } from '../../observability/metrics.js';
import * as subjects from '../transport/subjects.js';

/** Follows every actor's load report of `model` until the returned function is called. */
export function watchActorLoads(nc: NatsConnection, model: string, node: string): () => void {
  const latest = new Map<string, { load: ActorLoad; at: number }>();
  const sub = nc.subscribe(subjects.actorLoadWildcard(model), {
    callback: (err, m) => {
      if (err) return;
      try {
        const load = decodeActorLoad(m.data);
        latest.set(load.instance, { load, at: Date.now() });
      } catch (e) {
        // a stray message must not take the node down; it is simply not shown
        if (!(e instanceof MalformedMessageError)) throw e;
      }
    },
  });
  // an actor that went down (retired, crashed) leaves at once; one that comes back reports again
  const events = nc.subscribe(subjects.eventsWildcard(model), {
    callback: (err, m) => {
      if (err) return;
      try {
        const e = decodeEvent(m.data);
        if (e.kind === 'down' || e.kind === 'failed') latest.delete(e.instance);
      } catch (e) {
        if (!(e instanceof MalformedMessageError)) throw e;
      }
    },
  });
  const hide = showActorLoads({
    model,
    node,
    actors: () => {
      const out = [];
      for (const [instance, { load, at }] of latest) {
        // a report a whole window old describes nothing still in its window: the actor is gone
        if (Date.now() - at > load.windowMs) latest.delete(instance);
        else out.push({ actor: instance, node: load.node, busy: load.busyMs / load.windowMs, rows: load.rows });
      }
      return out;
    },
  });
  return () => {
    hide();
    sub.unsubscribe();
    events.unsubscribe();
  };
}
