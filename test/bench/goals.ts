// The speed goals (issue 22) in one table at the end of `npm run bench`: each with its figure from this run, the
// range of its runs, the floor or reference it is set against, and whether it is met.
import { cpus } from 'node:os';
import { fmt, table } from './stats.js';

/** A figure of this run: its median, and the lowest and highest of its runs (equal when measured once). */
export interface Figure {
  median: number;
  low: number;
  high: number;
}

/** What the goals are read from; a section the run skipped (--no-front, --no-quantize, ...) leaves its field out. */
export interface GoalFigures {
  /** The preset every goal is read on (the bench preset by default). */
  label: string;
  /** Monolithic tok/s, and the floor tok/s it is set against, per concurrency. */
  monolith?: Map<number, { tokPerS: Figure; floorTokPerS: number; bound: string }>;
  /** Through one HTTP front: the cluster's and the monolith's tok/s, per concurrency. */
  front?: Map<number, { cluster: Figure; monolith: Figure }>;
  /** The dispatch protocol (an actor that answers at once) and a bare round trip of the same bytes, one row, p50 ms. */
  dispatch?: { ms: number; rttMs: number };
  /** Monolithic tok/s at 1 prompt: int4 experts and --quantize-dense, and float32. */
  int4Dense?: { tokPerS: Figure; f32TokPerS: number };
  /** Token mismatches of the int4 cluster against the int4 monolith. */
  int4Cluster?: { differing: number; compared: number };
  /** Mean expert actor resident memory, float32 and int4. */
  actorRss?: { f32Mb: number; int4Mb: number };
}

interface Goal {
  name: string;
  figure: string;
  range: string;
  against: string;
  target: string;
  met: boolean | undefined;
}

const pct = (x: number) => `${fmt(100 * x, 0)}%`;
const times = (x: number) => `${fmt(x, 2)}x`;

export function goalsReport(g: GoalFigures): string {
  const goals: Goal[] = [];
  const missing = (name: string, why: string, target: string) => goals.push({ name, figure: '-', range: '-', against: why, target, met: undefined });
  for (const [c, want] of [
    [32, 0.7],
    [1, 0.85],
  ] as const) {
    const m = g.monolith?.get(c);
    const name = `monolith of its floor, ${c} prompt${c > 1 ? 's' : ''}`;
    if (!m) missing(name, 'not measured', `>= ${pct(want)}`);
    else goals.push({ name, figure: pct(m.tokPerS.median / m.floorTokPerS), range: `${pct(m.tokPerS.low / m.floorTokPerS)}-${pct(m.tokPerS.high / m.floorTokPerS)}`, against: `floor ${fmt(m.floorTokPerS, 0)} tok/s (${m.bound})`, target: `>= ${pct(want)}`, met: m.tokPerS.median / m.floorTokPerS >= want });
  }
  for (const c of [32, 1]) {
    const f = g.front?.get(c);
    const name = `cluster / monolith through one front, ${c} prompt${c > 1 ? 's' : ''}`;
    if (!f) missing(name, 'not measured (--no-front)', '>= 0.80x');
    else {
      const r = f.cluster.median / f.monolith.median;
      // the range pairs the slowest cluster wave with the fastest monolith one and the other way round
      goals.push({ name, figure: times(r), range: `${times(f.cluster.low / f.monolith.high)}-${times(f.cluster.high / f.monolith.low)}`, against: `monolith ${fmt(f.monolith.median, 1)} tok/s`, target: '>= 0.80x', met: r >= 0.8 });
    }
  }
  if (!g.dispatch) missing('dispatch protocol / bare round trip, 1 row', 'not measured', '<= 1.50x');
  else goals.push({ name: 'dispatch protocol / bare round trip, 1 row', figure: times(g.dispatch.ms / g.dispatch.rttMs), range: '-', against: `round trip ${fmt(g.dispatch.rttMs, 3)} ms, same bytes`, target: '<= 1.50x', met: g.dispatch.ms / g.dispatch.rttMs <= 1.5 });
  if (!g.int4Dense) missing('int4 experts + dense / f32, monolith, 1 prompt', 'not measured (--no-quantize)', '>= 4.00x');
  else {
    const r = g.int4Dense.tokPerS.median / g.int4Dense.f32TokPerS;
    goals.push({ name: 'int4 experts + dense / f32, monolith, 1 prompt', figure: times(r), range: `${times(g.int4Dense.tokPerS.low / g.int4Dense.f32TokPerS)}-${times(g.int4Dense.tokPerS.high / g.int4Dense.f32TokPerS)}`, against: `f32 ${fmt(g.int4Dense.f32TokPerS, 1)} tok/s`, target: '>= 4.00x', met: r >= 4 });
  }
  if (!g.int4Cluster) missing('int4 cluster tokens = int4 monolith', 'not measured (--no-quantize)', '0 differ');
  else goals.push({ name: 'int4 cluster tokens = int4 monolith', figure: `${g.int4Cluster.differing} of ${g.int4Cluster.compared} differ`, range: '-', against: 'the int4 monolith', target: '0 differ', met: g.int4Cluster.differing === 0 });
  if (!g.actorRss) missing('expert actor memory, f32 / int4', 'not measured (--no-quantize)', '>= 4.0x');
  else {
    const r = g.actorRss.f32Mb / g.actorRss.int4Mb;
    goals.push({ name: 'expert actor memory, f32 / int4', figure: `${fmt(r, 1)}x`, range: '-', against: `f32 ${fmt(g.actorRss.f32Mb, 0)} MB, int4 ${fmt(g.actorRss.int4Mb, 0)} MB`, target: '>= 4.0x', met: r >= 4 });
  }
  const met = goals.filter((x) => x.met === true).length;
  return [
    `speed goals (${g.label}; ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores): ${met} of ${goals.length} met`,
    table(
      ['goal', 'figure', 'range of runs', 'set against', 'target', 'met'],
      goals.map((x) => [x.name, x.figure, x.range, x.against, x.target, x.met === undefined ? '-' : x.met ? 'yes' : 'NO']),
    ),
    '  not here: the comparison with llama.cpp Q4_K_M on the same checkpoint (llama.cpp is not part of the project; see the README)',
  ].join('\n');
}
