// `eaas hosts`: a topology tried on one machine before it is bought: a gate host and N expert hosts, each in its own
// network namespace with its own nats-server, over links with a set latency and bandwidth (needs root).
import { resolve } from 'node:path';
import { Checkpoint } from '../../model/checkpoint.js';
import { Hosts } from '../hosts/hosts.js';
import { destroyAllNetworksSync } from '../hosts/network.js';
import { expertShares, GATE_HOST, gateAndExpertHosts } from '../hosts/topology.js';
import { DEFAULT_HTTP_PORT, shippedModelDir } from '../node/cluster.js';
import { intFlag, numberFlag, parseFlags, stringFlag, type FlagTable } from './flags.js';
import { QUANTIZE_FLAGS, quantizationFromFlags } from './quantize-flags.js';
import { serveUntilSignal } from './serve.js';
import { WIRE_FLAGS, wireFromFlags } from './wire-flags.js';

const DEFAULT_EXPERT_HOSTS = 2;
const DEFAULT_DELAY_MS = 0.1;
const DEFAULT_RATE_MBIT = 10_000;

export const FLAGS = {
  model: { type: 'string', arg: 'DIR', help: 'the checkpoint directory to serve', default: 'the shipped model, model/checkpoints/sotu-moe' },
  name: { type: 'string', arg: 'NAME', help: 'the served model\'s name: its NATS subjects and the API\'s "model"', default: 'the checkpoint directory\'s name' },
  'expert-hosts': { type: 'string', arg: 'N', help: 'hosts running expert actors (besides the gate\'s host)', default: String(DEFAULT_EXPERT_HOSTS) },
  replicas: { type: 'string', arg: 'R', help: 'expert hosts holding each expert: up to R-1 hosts may be lost with every expert still served', default: 'min(2, N)' },
  'experts-per-actor': { type: 'string', arg: 'N', help: 'experts each expert actor holds', default: 'sized to the machine\'s cores and each host\'s share' },
  delay: { type: 'string', arg: 'MS', help: 'one-way latency of a link between two hosts, in ms (below 1 ms: what the relay itself costs)', default: String(DEFAULT_DELAY_MS) },
  rate: { type: 'string', arg: 'MBIT', help: 'each host\'s link bandwidth in Mbit/s, each way', default: String(DEFAULT_RATE_MBIT) },
  'http-port': { type: 'string', arg: 'P', help: 'the gate host\'s HTTP front port; 0 picks a free one', default: String(DEFAULT_HTTP_PORT) },
  ...QUANTIZE_FLAGS,
  ...WIRE_FLAGS,
} as const satisfies FlagTable;

export async function hostsCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const modelDir = resolve(stringFlag(values, 'model') ?? shippedModelDir());
  const expertHosts = intFlag(values, 'expert-hosts', DEFAULT_EXPERT_HOSTS, 1);
  const replicas = intFlag(values, 'replicas', Math.min(2, expertHosts), 1);
  const link = { delayMs: numberFlag(values, 'delay', DEFAULT_DELAY_MS), rateMbit: numberFlag(values, 'rate', DEFAULT_RATE_MBIT, 1) };
  // checked here, so a wrong value is one line before any host starts
  const quantization = quantizationFromFlags(values);
  const wire = wireFromFlags(values);
  const checkpoint = Checkpoint.open(modelDir);
  const experts = checkpoint.config.numLocalExperts;
  checkpoint.close();
  const nodeFlags = [
    ...(quantization ? ['--quantize', `int${quantization.bits}`, ...(quantization.dense ? ['--quantize-dense'] : [])] : []),
    ...(wire ? ['--wire-dtype', wire] : []),
  ];
  const perActor = stringFlag(values, 'experts-per-actor');
  const shares = expertShares(experts, expertHosts, replicas);
  const specs = gateAndExpertHosts({
    modelDir,
    experts,
    expertHosts,
    replicas,
    name: stringFlag(values, 'name'),
    httpPort: intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 0),
    nodeFlags,
    expertFlags: perActor === undefined ? [] : ['--experts-per-actor', String(intFlag(values, 'experts-per-actor', undefined, 1))],
  });
  // a signal while the hosts start (minutes for a real-size model) must not leave namespaces behind: 'exit' does
  // not come when a signal ends the process
  const early = (signal: NodeJS.Signals) => {
    process.stderr.write(`eaas: ${signal} while the hosts started; removing them\n`);
    destroyAllNetworksSync();
    process.exit(1);
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  const hosts = await Hosts.start({ hosts: specs, link });
  process.off('SIGINT', early);
  process.off('SIGTERM', early);
  const gate = hosts.host(GATE_HOST);
  const http = /at (http:\S+)/.exec(gate.ready ?? '')?.[1]?.replace('0.0.0.0', gate.ip);
  const model = / of model (\S+)/.exec(gate.ready ?? '')?.[1];
  const lines = [
    `eaas hosts ready: model ${model} served at ${gate.natsUrl} and ${http} by a gate host and ${expertHosts} expert hosts ` +
      `(links: ${link.delayMs} ms one way, ${link.rateMbit} Mbit/s)`,
    ...hosts.hosts.map((h, i) => {
      // the gate host first, then the expert hosts in the shares' order
      const what = h.name === GATE_HOST ? 'gate and front' : `experts ${shares[i - 1]}`;
      return `  ${h.name.padEnd(5)} ${h.ip.padEnd(15)} ${what}; pull its cable: ip link set ${h.switchPort} down (back: up); a shell on it: ip netns exec ${h.namespace} bash`;
    }),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  await serveUntilSignal(() => hosts.stop());
}
