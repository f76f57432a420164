// A snapshot of a cluster from standard NATS micro service discovery ($SRV.INFO and $SRV.STATS).
import type { NatsConnection, ServiceStats } from 'nats';
import { serviceInfos, serviceStats } from '../../runtime/transport/discovery.js';
import { EXPERT_SERVICE, GATE_SERVICE, SUPERVISOR_SERVICE } from './services.js';

export interface ActorStatus {
  service: string;
  id: string;
  model: string;
  node: string;
  instance?: string;
  experts: string[];
  requests: number;
  errors: number;
}

export interface ClusterStatus {
  nodes: string[];
  actors: ActorStatus[];
  /** Live replicas per "model/layer:expert". */
  replicas: Record<string, number>;
}

type EndpointStats = NonNullable<ServiceStats['endpoints']>[number];

/**
 * An endpoint's requests or errors. nats.js counts only handlers that throw, and ours answer
 * asynchronously, so actors report their own counts in the stats data; the endpoint's own count otherwise.
 */
function counted(e: EndpointStats, what: 'requests' | 'errors'): number {
  const own = (e.data as Record<string, unknown> | undefined)?.[what];
  if (typeof own === 'number') return own;
  return what === 'requests' ? e.num_requests : e.num_errors;
}

export async function clusterStatus(nc: NatsConnection): Promise<ClusterStatus> {
  // each discovery listens for its full wait: the four run side by side, so a snapshot takes one wait, not four
  const services = [GATE_SERVICE, SUPERVISOR_SERVICE, EXPERT_SERVICE];
  const [stats, ...infos] = await Promise.all([serviceStats(nc), ...services.map((service) => serviceInfos(nc, service))]);
  const statsById = new Map<string, ServiceStats>(stats.map((s) => [s.id, s]));
  const actors: ActorStatus[] = [];
  for (const [i, service] of services.entries()) {
    for (const info of infos[i]) {
      const m = info.metadata ?? {};
      const st = statsById.get(info.id);
      actors.push({
        service,
        id: info.id,
        model: m.model ?? '',
        node: m.node ?? '',
        instance: m.instance,
        experts: (m.experts ?? '').split(',').filter(Boolean),
        requests: st?.endpoints?.reduce((a, e) => a + counted(e, 'requests'), 0) ?? 0,
        errors: st?.endpoints?.reduce((a, e) => a + counted(e, 'errors'), 0) ?? 0,
      });
    }
  }
  const replicas: Record<string, number> = {};
  for (const a of actors) for (const e of a.experts) replicas[`${a.model}/${e}`] = (replicas[`${a.model}/${e}`] ?? 0) + 1;
  const nodes = [...new Set(actors.map((a) => a.node))].sort();
  actors.sort((a, b) => a.service.localeCompare(b.service) || (a.instance ?? a.node).localeCompare(b.instance ?? b.node));
  return { nodes, actors, replicas };
}
