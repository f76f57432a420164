// The subjects a live view of a model hears; its feed subscribes to exactly these, and the monitor role may read them.
import * as subjects from '../../runtime/transport/subjects.js';
import { ANY, type Token } from '../../runtime/transport/subjects.js';

export interface Watched {
  events: string;
  gateLoads: string;
  actorLoads: string;
  pulses: string;
  reconnects: string;
}

/** `model` ANY: every model's (a permission). */
export function watchedSubjects(model: Token): Watched {
  return {
    events: subjects.eventSubject(model, ANY, ANY, ANY),
    gateLoads: subjects.loadReport(model, ANY),
    actorLoads: subjects.actorLoad(model, ANY, ANY),
    pulses: subjects.gatePulse(model, ANY),
    reconnects: subjects.gateReconnected(model, ANY),
  };
}
