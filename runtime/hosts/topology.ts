// The usual topology of emulated hosts: a gate host (gate and HTTP front) and N expert hosts, each holding a
// contiguous share of every layer's experts, each share on `replicas` neighbouring hosts.
import { PlacementError } from '../../actors/protocol/errors.js';
import type { HostSpec } from './hosts.js';

export const GATE_HOST = 'gate';
export const expertHostName = (i: number) => `h${i + 1}`;

export interface TopologyOptions {
  modelDir: string;
  /** Experts per layer in the model. */
  experts: number;
  expertHosts: number;
  /** Expert hosts holding each expert; losing fewer than this many leaves every expert served. */
  replicas: number;
  name?: string;
  /** The gate host's front on this port (0: a free one); none: a gate without a front. */
  httpPort?: number;
  /** More `eaas node` flags for every node (--quantize, --wire-dtype, ...). */
  nodeFlags?: string[];
  /** More flags for the expert hosts' nodes only (--experts-per-actor, ...). */
  expertFlags?: string[];
}

export function gateAndExpertHosts(o: TopologyOptions): HostSpec[] {
  const common = ['--model', o.modelDir, ...(o.name ? ['--name', o.name] : []), ...(o.nodeFlags ?? [])];
  const front = o.httpPort === undefined ? [] : ['--http-host', '0.0.0.0', '--http-port', String(o.httpPort)];
  const gate: HostSpec = { name: GATE_HOST, gate: true, node: [...common, '--role', o.httpPort === undefined ? 'gate' : 'gate,api', '--node-name', GATE_HOST, ...front] };
  const shares = expertShares(o.experts, o.expertHosts, o.replicas);
  const experts = shares.map((spec, i): HostSpec => ({
    name: expertHostName(i),
    node: [...common, '--role', 'supervisor', '--node-name', expertHostName(i), '--experts', spec, '--replicas', '1', ...(o.expertFlags ?? [])],
  }));
  return [gate, ...experts];
}

/** The `--experts` spec (`*:A-B,...`) of each of `hosts` hosts for a model of `experts` experts per layer. */
export function expertShares(experts: number, hosts: number, replicas: number): string[] {
  if (replicas > hosts) throw new PlacementError(`--replicas ${replicas} needs at least ${replicas} expert hosts, got ${hosts}`);
  if (hosts > experts) throw new PlacementError(`${hosts} expert hosts for ${experts} experts a layer: some would hold none; use at most ${experts}`);
  const first = (b: number) => Math.floor((b * experts) / hosts);
  return Array.from({ length: hosts }, (_, h) => {
    const blocks = Array.from({ length: replicas }, (_, r) => (h - r + hosts) % hosts).sort((a, b) => a - b);
    // neighbouring blocks read as one range
    const ranges: [number, number][] = [];
    for (const b of blocks) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === first(b) - 1) last[1] = first(b + 1) - 1;
      else ranges.push([first(b), first(b + 1) - 1]);
    }
    return ranges.map(([lo, hi]) => (lo === hi ? `*:${lo}` : `*:${lo}-${hi}`)).join(',');
  });
}
