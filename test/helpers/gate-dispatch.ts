// A gate's expert actors as it sees them, for tests that look into dispatch (its directory of instances).
import { RemoteExperts } from '../../actors/gate/remote-experts.js';
import type { GateActor } from '../../actors/gate/gate.js';

export function remoteExperts(gate: GateActor | undefined): RemoteExperts {
  const experts = gate?.experts;
  if (!(experts instanceof RemoteExperts)) throw new Error('this gate dispatches to no expert actors: it computes its experts in process');
  return experts;
}
