// Warms a spare expert process's dispatch path before it serves: an ExpertActor on a private inbox answers made-up
// dispatches sent over the process's own NATS connection. A process that takes over a crashed actor cold spent
// 1.5-2x a warm one's CPU per dispatch for seconds while V8 compiled nats.js's, msgpackr's, ONNX Runtime's and the
// actor's hot code, and every gate step waited on it; warmed while it idles (in the idle scheduling class, see
// actor-processes.ts), a 2-core host lost 0.17 s of throughput per kill -9 instead of 0.76 s cold (same sitting).
import { headers, type Msg, type NatsConnection, type Payload } from 'nats';
import type { ExpertKey } from '../../model/expert-key.js';
import { encodeDispatch } from '../protocol/messages.js';
import type { ExpertRunner } from './compute.js';
import { ExpertActor } from './expert.js';

export interface WarmUpOptions {
  nc: NatsConnection;
  /** A fresh subject only this process listens on. */
  subject: string;
  hidden: number;
  /** A few experts of one layer of the model, loaded for the warm-up only. */
  keys: ExpertKey[];
  experts: ExpertRunner;
  dispatches: number;
  /** Checked before each dispatch: the spare was assigned, it must serve now. */
  stopped: () => boolean;
}

/** Sends up to `o.dispatches` dispatches of 1-6 rows over one or two experts through a real actor; resolves with how many went. */
export async function warmUp(o: WarmUpOptions): Promise<number> {
  const actor = new ExpertActor({ nc: o.nc, model: 'warm-up', instance: 'warm-up', node: 'warm-up', keys: o.keys, hidden: o.hidden, experts: o.experts, loadReportMs: 0 });
  // a reply may come after its request timed out and the connection closed: it is dropped, not thrown
  const respond = (msg: Msg, data?: Payload) => {
    try {
      return msg.respond(data);
    } catch {
      return false;
    }
  };
  const answering = new Set<Promise<void>>();
  const sub = o.nc.subscribe(o.subject, {
    callback: (err, msg) => {
      if (err) return;
      const answer = actor.answer({ subject: msg.subject, data: msg.data, headers: msg.headers, respond: (data) => respond(msg, data), respondError: (_code, message) => respond(msg, new TextEncoder().encode(message)) }).catch(() => undefined);
      answering.add(answer);
      void answer.finally(() => answering.delete(answer));
    },
  });
  let sent = 0;
  try {
    for (; sent < o.dispatches && !o.stopped(); sent++) {
      const experts = [o.keys[sent % o.keys.length], o.keys[(sent + 1) % o.keys.length]].slice(0, 1 + (sent % 2));
      const rows = experts.map((_, k) => 1 + ((sent + k) % 6));
      const x = new Float32Array(rows.reduce((a, b) => a + b, 0) * o.hidden).fill(0.01);
      const payload = encodeDispatch({ layer: experts[0].layer, experts: experts.map((k) => k.expert), rows, x }, o.hidden, 'f32');
      // the gate's dispatches carry headers (trace context): their parsing is part of the path
      await o.nc.request(o.subject, payload, { timeout: 5_000, headers: headers() });
    }
  } finally {
    sub.unsubscribe();
    // the caller releases the experts next: no answer may still be computing with them
    await Promise.all(answering);
  }
  return sent;
}
