// Jepsen-style checks of a chaos run: every request answered or failed clearly, answers bit-identical to
// the monolithic run, nothing lost, and the cluster back at full strength afterwards.
import type { NatsConnection } from 'nats';
import { clusterStatus } from '../../../actors/protocol/status.js';
import type { GateActor } from '../../../actors/gate/gate.js';
import { requestGenerate } from '../../../actors/gate/client.js';
import { gateReplicas, type SupervisorProbe, type SupervisorStatus } from './cluster.js';
import type { FaultRecord } from './faults.js';
import type { Expected, RequestRecord } from './workload.js';

export interface Counts {
  requests: number;
  ok: number;
  /** Failed with a clear error that the scenario allows. */
  failedAllowed: number;
  /** Failed with an error the scenario does not allow. */
  failed: number;
  /** No answer within the client-side bound. */
  unknown: number;
  /** Issued, but the client call never settled. */
  lost: number;
  /** Answered with tokens or logits different from the monolithic run. */
  mismatched: number;
}

export interface CheckOptions {
  expected: Expected[];
  /** Which failed requests are acceptable (a clear error the scenario allows); default none. */
  allowError?: (r: RequestRecord) => boolean;
}

const MAX_LISTED = 5;

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The same tokens as the monolith, and for a plain request the same logits to the bit (a stream carries no logits). */
export function matches(r: { tokens?: number[]; logits?: Float32Array; via?: string }, e: Expected): boolean {
  const streamed = r.via === 'stream' || r.via === 'sse';
  return !!r.tokens && r.tokens.length === e.tokens.length && r.tokens.every((t, i) => t === e.tokens[i]) && (streamed || (!!r.logits && sameBits(r.logits, e.logits)));
}

/** Counts outcomes and lists every violation of the invariants (empty when the run is clean). */
export function checkRecords(records: RequestRecord[], o: CheckOptions): { counts: Counts; violations: string[] } {
  const counts: Counts = { requests: records.length, ok: 0, failedAllowed: 0, failed: 0, unknown: 0, lost: 0, mismatched: 0 };
  const bad: Record<'failed' | 'unknown' | 'lost' | 'mismatched', string[]> = { failed: [], unknown: [], lost: [], mismatched: [] };
  const ids = new Set<number>();
  for (const r of records) {
    if (ids.has(r.id)) bad.lost.push(`request #${r.id} recorded twice`);
    ids.add(r.id);
    switch (r.outcome) {
      case undefined:
        counts.lost++;
        bad.lost.push(`request #${r.id} (prompt ${r.prompt}) never settled on the client`);
        break;
      case 'unknown':
        counts.unknown++;
        bad.unknown.push(`request #${r.id} (prompt ${r.prompt}, started ${r.start}) got no answer: ${r.error}`);
        break;
      case 'error':
        if (o.allowError?.(r)) counts.failedAllowed++;
        else {
          counts.failed++;
          bad.failed.push(`request #${r.id} (prompt ${r.prompt}) failed after ${r.end! - r.start} ms: ${r.error}`);
        }
        break;
      case 'ok':
        if (matches(r, o.expected[r.prompt]!)) counts.ok++;
        else {
          counts.mismatched++;
          bad.mismatched.push(`request #${r.id} (prompt ${r.prompt}) answered tokens [${r.tokens}] expected [${o.expected[r.prompt]!.tokens}]${r.tokens?.join() === o.expected[r.prompt]!.tokens.join() ? ' (logits differ)' : ''}`);
        }
        break;
    }
  }
  const violations: string[] = [];
  for (const [kind, list] of Object.entries(bad)) {
    if (list.length === 0) continue;
    violations.push(`${list.length} ${kind}: ${list.slice(0, MAX_LISTED).join('; ')}${list.length > MAX_LISTED ? ` (+${list.length - MAX_LISTED} more)` : ''}`);
  }
  return { counts, violations };
}

/**
 * A run proves nothing unless requests were answered and, when it is the faulted run (`faults` given), a fault
 * was injected while requests were in flight. Lists what is missing (empty when the run exercised the cluster).
 */
export function checkExercised(records: RequestRecord[], faults?: FaultRecord[]): string[] {
  const out: string[] = [];
  if (records.length === 0) out.push('no request was issued');
  else if (!records.some((r) => r.outcome === 'ok')) out.push(`none of the ${records.length} requests completed`);
  if (faults) {
    const inFlight = (f: FaultRecord) => records.some((r) => r.start <= (f.until ?? f.at) && (r.end ?? Infinity) >= f.at);
    if (faults.length === 0) out.push('no fault was injected');
    else if (!faults.some(inFlight)) out.push(`no request was in flight during any of the ${faults.length} faults`);
  }
  return out;
}

export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface StrengthOptions {
  nc: NatsConnection;
  model: string;
  /** Configured live replicas of every expert. */
  replicas: number;
  /** Every "layer:expert" id the cluster should serve. */
  experts: string[];
  supervisors: SupervisorProbe[];
  /** Children each supervisor should run. */
  childrenPerSupervisor?: number;
  gate?: GateActor;
  timeoutMs: number;
}

export interface StrengthResult {
  ok: boolean;
  /** How long it took to get there (from the call). */
  ms: number;
  /** What was still missing at the last look (empty when ok). */
  missing: string[];
  statuses: SupervisorStatus[];
}

/**
 * Waits until every supervisor runs all its children and the gate knows `replicas` live replicas of every expert
 * (cheap, polled), then confirms with NATS micro service discovery that exactly `replicas` expert actors answer for
 * each expert. `ms` is when the cheap checks first passed in the run that discovery confirmed.
 */
export async function awaitFullStrength(o: StrengthOptions): Promise<StrengthResult> {
  const t0 = Date.now();
  let missing: string[] = ['not checked yet'];
  let statuses: SupervisorStatus[] = [];
  while (Date.now() - t0 < o.timeoutMs) {
    missing = [];
    statuses = [];
    for (const s of o.supervisors) {
      try {
        const st = await s.status();
        statuses.push(st);
        if (o.childrenPerSupervisor !== undefined && st.children.length !== o.childrenPerSupervisor) missing.push(`${s.node} has ${st.children.length} children`);
        for (const c of st.children) if (c.state !== 'running') missing.push(`${c.instance} is ${c.state}`);
      } catch (err) {
        missing.push(`supervisor ${s.node} does not answer (${(err as Error).message})`);
      }
    }
    for (const id of o.experts) {
      const n = gateReplicas(o.gate, id);
      if (n !== undefined && n !== o.replicas) missing.push(`the gate sees ${n} live replicas of ${id}`);
    }
    if (missing.length === 0) {
      const at = Date.now() - t0;
      const cs = await clusterStatus(o.nc).catch(() => undefined);
      if (!cs) missing.push('cluster status failed');
      else {
        for (const id of o.experts) {
          const n = cs.replicas[`${o.model}/${id}`] ?? 0;
          if (n !== o.replicas) missing.push(`discovery sees ${n} replicas of ${id}`);
        }
      }
      if (missing.length === 0) return { ok: true, ms: at, missing, statuses };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ok: false, ms: Date.now() - t0, missing, statuses };
}

/** After the faults: every prompt once more, all at once, each answer exact. */
export async function verifyServing(nc: NatsConnection, model: string, prompts: number[][], expected: Expected[], maxTokens: number, timeoutMs: number): Promise<string[]> {
  const results = await Promise.allSettled(prompts.map((p) => requestGenerate(nc, model, { prompt: p, max_tokens: maxTokens, logits: true, stop_at_eos: false }, timeoutMs)));
  const out: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'rejected') out.push(`after recovery prompt ${i} failed: ${(r.reason as Error).message}`);
    else if (!matches(r.value, expected[i]!)) out.push(`after recovery prompt ${i} answered [${r.value.tokens}] expected [${expected[i]!.tokens}]`);
  });
  return out;
}
