// Cluster pieces for chaos scenarios: status probes of supervisors (in this process or remote),
// supervisor nodes run as their own OS process through the CLI, and small accessors.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import type { GateActor } from '../../../actors/gate/gate.js';
import type { SupervisorActor } from '../../../actors/supervisor/supervisor.js';
import { supervisorStatus } from '../../../actors/supervisor/client.js';
import { Checkpoint } from '../../../model/checkpoint.js';
import { formatExpertKey } from '../../../model/expert-key.js';
import { alive, waitUntil } from './faults.js';

/** What the chaos suite needs of a supervisor's status (a subset, so product additions do not break it). */
export interface ChildStatus {
  instance: string;
  state: string;
  pid?: number;
  restarts: number;
  experts: string[];
}
export interface SupervisorStatus {
  node: string;
  children: ChildStatus[];
}

/** A supervisor we can ask for its children, wherever it runs. */
export interface SupervisorProbe {
  node: string;
  status(): Promise<SupervisorStatus>;
}

export const localProbe = (s: SupervisorActor): SupervisorProbe => ({
  node: s.status().node,
  status: async () => s.status() as SupervisorStatus,
});

/** Asks a supervisor over NATS (its `status` endpoint); a supervisor that is down answers nothing. */
export const remoteProbe = (nc: NatsConnection, model: string, node: string): SupervisorProbe => ({
  node,
  status: () => supervisorStatus(nc, model, node),
});

/** Every "layer:expert" id of a checkpoint. */
export function expertIds(dir: string): string[] {
  const ckpt = Checkpoint.open(dir);
  try {
    const c = ckpt.config;
    return Array.from({ length: c.numHiddenLayers * c.numLocalExperts }, (_, i) => formatExpertKey({ layer: Math.floor(i / c.numLocalExperts), expert: i % c.numLocalExperts }));
  } finally {
    ckpt.close();
  }
}

/** The gate's dispatch counters (redirects, hedges, ...) as far as it exposes them. */
export function gateCounters(gate: GateActor | undefined): Record<string, number | undefined> {
  const experts = gate?.experts as unknown as { counters?: Record<string, unknown>; redirects?: unknown } | undefined;
  const out: Record<string, number | undefined> = {};
  for (const [k, v] of Object.entries(experts?.counters ?? {})) if (typeof v === 'number') out[k] = v;
  if (typeof experts?.redirects === 'number') out.redirects = experts.redirects;
  return out;
}

/** Live replicas per expert as the gate's directory sees them, when it exposes one. */
export function gateReplicas(gate: GateActor | undefined, id: string): number | undefined {
  const dir = (gate?.experts as unknown as { directory?: { replicas?: (id: string) => unknown[] } } | undefined)?.directory;
  return typeof dir?.replicas === 'function' ? dir.replicas(id).length : undefined;
}

// The CLI runs from the build: from source (vitest) use dist/, from dist/ use the sibling tree.
const HERE = fileURLToPath(import.meta.url);
export const CLI_MAIN = HERE.endsWith('.ts')
  ? join(dirname(HERE), '..', '..', '..', 'dist', 'runtime', 'cli', 'main.js')
  : join(dirname(HERE), '..', '..', '..', 'runtime', 'cli', 'main.js');

export interface CliNode {
  node: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the node (and its expert actors, which share its stdio) wrote. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface CliNodeOptions {
  nats: string;
  modelDir: string;
  node: string;
  roles?: string;
  replicas?: number;
  expertsPerActor?: number;
  env?: Record<string, string>;
  /** More flags, e.g. a controller's --placement-policy. */
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

/** Runs `eaas node` as its own OS process and resolves once it prints its ready line. */
export async function startCliNode(o: CliNodeOptions): Promise<CliNode> {
  const args = [
    CLI_MAIN, 'node', '--nats', o.nats, '--model', o.modelDir, '--role', o.roles ?? 'supervisor',
    '--replicas', String(o.replicas ?? 1), '--experts-per-actor', String(o.expertsPerActor ?? 8), '--node-name', o.node, ...(o.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const ready = await waitUntil(() => out.includes(`eaas node ${o.node} ready`) || proc.exitCode !== null || proc.signalCode !== null, o.readyTimeoutMs ?? 30_000, 20);
  if (ready === undefined || proc.exitCode !== null || proc.signalCode !== null) {
    proc.kill('SIGKILL');
    throw new Error(`eaas node ${o.node} did not start: ${out.trim().split('\n').slice(-5).join(' | ') || '(no output)'}`);
  }
  return {
    node: o.node,
    proc,
    pid: proc.pid!,
    output: () => out,
    stop: async (graceMs = 8_000) => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Pids from a status that still exist: expert actors that outlived their supervisor are orphans. */
export const survivors = (pids: number[]) => pids.filter(alive);
