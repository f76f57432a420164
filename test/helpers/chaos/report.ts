// The chaos report: one row per scenario (outcomes, latency, throughput against a fault-free run) and one line per fault.
import { appendFileSync } from 'node:fs';
import type { Counts } from './checker.js';
import type { FaultRecord } from './faults.js';

export interface ScenarioReport {
  scenario: string;
  counts: Counts;
  p50Ms?: number;
  p99Ms?: number;
  /** Successful requests per second over the run. */
  throughput: number;
  /** The same, fault-free: the mean of the phases before and after the faulted one (or the one before), or of the interleaved fault-free windows. */
  baselineThroughput?: number;
  /** |before - after| ÷ their mean (interleaved: (max - min) ÷ mean of the windows): how well the fault-free reference agrees with itself. */
  baselineSpread?: number;
  /** The same comparison with each window's req/s divided by the machine's measured speed in it (machine-speed.ts). */
  adjusted?: AdjustedRatio;
  faults: FaultRecord[];
  /** From the end of the load until the cluster was back at full strength; undefined if it never was. */
  fullStrengthMs?: number;
  violations: string[];
  notes: string[];
}

export interface AdjustedRatio {
  /** Faulted ÷ fault-free, at the machine's speed. */
  ratio: number;
  /** (max - min) ÷ mean of the fault-free windows at the machine's speed; undefined with one window. */
  spread?: number;
  /** Each window's speed against the fastest, for the note. */
  speeds?: string;
}

const fmt = (v: number | undefined, unit = '') => (v === undefined ? '-' : `${Math.round(v)}${unit}`);

function stats(values: (number | undefined)[]): string {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return '-';
  const med = v[Math.floor((v.length - 1) / 2)]!;
  return v.length === 1 ? `${med}` : `${med}/${v[v.length - 1]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function formatReports(reports: ScenarioReport[]): string {
  const head = ['scenario', 'requests', 'ok', 'failed(allowed)', 'unknown', 'lost', 'mismatched', 'p50', 'p99', 'req/s', 'vs fault-free', 'ref spread', 'faults', 'redirect ms', 'restart ms', 'gap ms', 'full strength', 'verdict'];
  const rows = reports.map((r) => [
    r.scenario,
    String(r.counts.requests),
    String(r.counts.ok),
    `${r.counts.failed}(${r.counts.failedAllowed})`,
    String(r.counts.unknown),
    String(r.counts.lost),
    String(r.counts.mismatched),
    fmt(r.p50Ms, 'ms'),
    fmt(r.p99Ms, 'ms'),
    r.throughput.toFixed(2),
    r.adjusted ? `${Math.round(100 * r.adjusted.ratio)}%` : r.baselineThroughput ? `${Math.round((100 * r.throughput) / r.baselineThroughput)}%` : '-',
    (r.adjusted ? r.adjusted.spread : r.baselineSpread) === undefined ? '-' : `${(100 * (r.adjusted ? r.adjusted.spread! : r.baselineSpread!)).toFixed(1)}%`,
    String(r.faults.length),
    stats(r.faults.map((f) => f.redirectMs)),
    stats(r.faults.map((f) => f.restartMs)),
    stats(r.faults.map((f) => f.gapMs)),
    r.faults.length === 0 ? '-' : r.fullStrengthMs === undefined ? 'NEVER' : `+${r.fullStrengthMs}ms`,
    r.violations.length === 0 ? 'PASS' : 'FAIL',
  ]);
  const out = [table([head, ...rows]), '(vs fault-free and ref spread: at the machine\'s speed, each window\'s req/s ÷ the CPUs\' speed measured in it by a pinned probe, where it has samples (raw figures in the notes); vs fault-free: against the mean of the fault-free phases before and after, or where a note says "interleaved", req/s in the windows after each fault against the fault-free windows between them; ref spread: how far those differ; redirect/restart/gap: median/max over faults; redirect = first gate redirect after the fault, restart = fault to child running with a new pid, gap = longest time without a successful completion in the 10 s after the fault; full strength = after the load drained)'];
  for (const r of reports) {
    if (r.faults.length > 0) {
      out.push(`-- ${r.scenario}: faults`);
      const t0 = r.faults[0]!.at;
      for (const f of r.faults) {
        out.push(
          `   +${((f.at - t0) / 1000).toFixed(1)}s ${f.kind} ${f.target}${f.until ? ` for ${f.until - f.at} ms` : ''}: redirect ${fmt(f.redirectMs, 'ms')}, first hedge ${fmt(f.hedgeMs, 'ms')} (${f.hedges ?? '-'} hedges), restart ${fmt(f.restartMs, 'ms')}, gap ${fmt(f.gapMs, 'ms')}${f.note ? ` (${f.note})` : ''}`,
        );
      }
    }
    for (const n of r.notes) out.push(`-- ${r.scenario}: ${n}`);
    for (const v of r.violations) out.push(`!! ${r.scenario}: ${v}`);
  }
  return out.join('\n');
}

/** Prints the reports; with CHAOS_REPORT_FILE set, appends them to that file too. */
export function printReports(reports: ScenarioReport[], title = 'chaos report'): void {
  const text = `\n=== ${title} ===\n${formatReports(reports)}\n`;
  console.log(text);
  if (process.env.CHAOS_REPORT_FILE) appendFileSync(process.env.CHAOS_REPORT_FILE, text);
}
