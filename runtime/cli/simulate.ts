// `eaas simulate`: runs the paper's experiments on simulated deployments (runtime/simulate) and prints their tables.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_SCALING, readTrace, type TraceRow } from '../simulate/day-schedule.js';
import { dayExperiment, failureExperiment, throughputExperiment, type SimSetup } from '../simulate/experiments.js';
import { MODELS, PROFILES_DIR, readProfile, SHIPPED_PROFILE } from '../simulate/profile.js';
import { SimulationInputError } from '../simulate/errors.js';
import { idList, intFlag, numberFlag, parseFlags, stringFlag, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';
import { DEFAULT_NO_REPLICA_WAIT_MS } from '../../actors/gate/remote-experts.js';

/** Beside the project, where the development machines and CI keep the shared traces. */
const TRACE = resolve(PROFILES_DIR, '..', '..', '..', '..', 'shared', 'traces', 'azure-llm-inference-2023-conv.csv');
const EXPERIMENTS = ['default', 'throughput', 'failures', 'day', 'all'] as const;

export const FLAGS = {
  experiment: { type: 'string', arg: 'NAME', help: `what to run: ${EXPERIMENTS.join(', ')} (default: 8 hosts, throughput and one host failing, under a minute)`, default: 'default' },
  hosts: { type: 'string', arg: 'N', help: 'hosts of the deployment for default, failures and day (gate hosts + expert hosts, split by their work)', default: '8 (default), 64' },
  'host-counts': { type: 'string', arg: 'N,N,...', help: 'the deployments the throughput experiment compares', default: '8,16,32,64' },
  model: { type: 'string', arg: 'NAME', help: `the model's shape: ${Object.keys(MODELS).join(', ')}`, default: 'olmoe-1b-7b' },
  profile: { type: 'string', arg: 'FILE', help: 'a JSON cost profile (npm run simulate:calibrate writes one; see the README for its keys)', default: 'the shipped one, measured on a 2-core AMD EPYC' },
  trace: { type: 'string', arg: 'FILE', help: 'TIMESTAMP,ContextTokens,GeneratedTokens rows the request lengths come from', default: '../shared/traces/azure-llm-inference-2023-conv.csv if present' },
  seed: { type: 'string', arg: 'N', help: 'the same seed gives the same output, to the byte', default: '1' },
  duration: { type: 'string', arg: 'S', help: 'simulated seconds of each throughput and failure run, the first 20 s not measured', default: '40 (default), 80' },
  'day-seconds': { type: 'string', arg: 'S', help: 'simulated length of the compressed day', default: '600' },
  'itl-slo': { type: 'string', arg: 'MS', help: 'the day\'s third run: the controller also keeps the gates\' p99 inter-token latency below this (the policy\'s itlSloMs)', default: '400' },
  lead: { type: 'string', arg: 'MS', help: 'the day\'s third run: the controller also scales for the load expected this far ahead while the token rate grows (the policy\'s leadMs)', default: '0: none' },
  batch: { type: 'string', arg: 'N', help: 'sequences per gate (the decode batch)', default: '32' },
  replicas: { type: 'string', arg: 'R', help: 'replicas of each expert (on different hosts)', default: '2' },
  'no-replica-wait': { type: 'string', arg: 'MS', help: 'how long a gate\'s rows wait for a replica of their expert before the step fails (EAAS_NO_REPLICA_WAIT_MS of a real gate)', default: '5000' },
  copysets: { type: 'boolean', help: 'deal every replica set alike (copysets): an expert is lost only with a whole copyset of hosts' },
  skew: { type: 'string', arg: 'S', help: 'routing skew: expert of popularity rank r gets a share ∝ 1/(r+1)^S (0: uniform)', default: '0.5' },
  out: { type: 'string', arg: 'DIR', help: 'also write each experiment\'s table (.md) and picture (.svg) there' },
} as const satisfies FlagTable;

/** Request lengths: trace rows scaled as the live day bench scales them, or a fixed 8-in, 32-out without a trace. */
function lengthsFrom(trace: TraceRow[] | undefined): Pick<SimSetup, 'lengths' | 'lengthsNote'> {
  if (!trace) return { lengths: () => ({ prompt: 8, output: 32 }), lengthsNote: '8-token prompts, 32 new tokens' };
  const s = DEFAULT_SCALING;
  return {
    lengths: (rnd) => {
      const row = trace[Math.floor(rnd() * trace.length)];
      return { prompt: Math.min(s.promptCap, Math.max(1, Math.round(row.context / s.promptDiv))), output: Math.min(s.outputCap, Math.max(1, Math.round(row.generated / s.outputDiv))) };
    },
    lengthsNote: `Azure conversation trace lengths ÷${s.promptDiv} (≤${s.promptCap}) in, ÷${s.outputDiv} (≤${s.outputCap}) out`,
  };
}

export async function simulateCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, FLAGS);
  const experiment = stringFlag(values, 'experiment') ?? 'default';
  if (!(EXPERIMENTS as readonly string[]).includes(experiment)) throw new UsageError(`--experiment must be one of ${EXPERIMENTS.join(', ')}, got "${experiment}"`);
  const modelName = stringFlag(values, 'model') ?? 'olmoe-1b-7b';
  const model = MODELS[modelName];
  if (!model) throw new UsageError(`--model must be one of ${Object.keys(MODELS).join(', ')}, got "${modelName}"`);
  const profile = readProfile(stringFlag(values, 'profile') ?? SHIPPED_PROFILE);
  const traceFile = stringFlag(values, 'trace') ?? (existsSync(TRACE) ? TRACE : undefined);
  let trace: TraceRow[] | undefined;
  try {
    trace = traceFile ? readTrace(traceFile) : undefined;
  } catch (err) {
    throw new SimulationInputError(`cannot read trace ${traceFile}: ${(err as Error).message.split('\n')[0]}`);
  }
  const small = experiment === 'default';
  const setup: SimSetup = {
    model,
    profile,
    seed: intFlag(values, 'seed', 1),
    ...lengthsFrom(trace),
    skew: numberFlag(values, 'skew', 0.5),
    maxBatch: intFlag(values, 'batch', 32, 1),
    prefillBudget: 256,
    actorsPerHost: profile.coresPerHost,
    gatesPerHost: profile.coresPerHost,
    minReplicas: intFlag(values, 'replicas', 2, 1),
    durationMs: 1000 * intFlag(values, 'duration', small ? 40 : 80, 30),
    // every gate's batch starts with all its prompts at once: their prefill takes ~15 s on the CPU profile
    warmupMs: 20_000,
    hostRepairMs: 30_000,
    copysets: values.copysets === true,
    gate: { noReplicaWaitMs: intFlag(values, 'no-replica-wait', DEFAULT_NO_REPLICA_WAIT_MS, 0) },
  };
  const hosts = intFlag(values, 'hosts', small ? 8 : 64, 3);
  const out = stringFlag(values, 'out');
  if (out) mkdirSync(out, { recursive: true });
  const say = (name: string, title: string, r: { table: string; svg?: string }) => {
    process.stdout.write(`\n## ${title}\n\n${r.table}\n`);
    if (!out) return;
    writeFileSync(join(out, `${name}.md`), `${r.table}\n`);
    if (r.svg) writeFileSync(join(out, `${name}.svg`), r.svg);
  };
  process.stdout.write(`eaas simulate: ${experiment}, model ${model.name}, seed ${setup.seed}, skew ${setup.skew}, ${setup.minReplicas} replicas${setup.copysets ? ' in copysets' : ''}; costs: ${profile.source}; lengths: ${setup.lengthsNote}\n`);
  if (small) {
    say('throughput', `Throughput at ${hosts} hosts against a monolith of the same hosts`, throughputExperiment(setup, [hosts]));
    say('failures', `One of ${hosts} hosts failing`, failureExperiment(setup, hosts, [1], 0));
    return;
  }
  if (experiment === 'throughput' || experiment === 'all') {
    const counts = idList(stringFlag(values, 'host-counts') ?? '8,16,32,64', 'host-counts');
    if (counts.some((n) => n < 3)) throw new UsageError('--host-counts must each be 3 or more (a gate host and two expert hosts)');
    say('throughput', 'Throughput against a monolith of the same hosts', throughputExperiment(setup, counts));
  }
  if (experiment === 'failures' || experiment === 'all') say('failures', `Hosts failing (${hosts} hosts)`, failureExperiment(setup, hosts, [1, 2, 5, 10].filter((k) => k < hosts / 2), Math.max(2, Math.floor(hosts / 8))));
  if (experiment === 'day' || experiment === 'all') {
    if (!trace) throw new SimulationInputError('the day experiment needs a trace: pass --trace FILE (TIMESTAMP,ContextTokens,GeneratedTokens)');
    say('day', `A compressed day (${hosts} hosts)`, dayExperiment(setup, hosts, trace, { dayS: intFlag(values, 'day-seconds', 600, 60), trough: 0.3, load: 0.6, itlSloMs: intFlag(values, 'itl-slo', 400, 1), leadMs: intFlag(values, 'lead', 0, 0) }));
  }
}
