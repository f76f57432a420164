// The machine's own speed over time, per CPU, so a throughput window can be read against what the host gave it.
// On this VM a vCPU slows by ~30 % for 10–40 s at a time while the guest is idle (its host sibling busy, most
// likely): throughput windows then differ by 20–35 % with the same work per request. One child pinned to each
// CPU times a fixed loop in CPU time (not wall time, so the guest's own load does not count) every 250 ms.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const SAMPLE_MS = 250;

/** Prints "<epoch ms> <loop units per CPU-ms>" every SAMPLE_MS; ~1 ms of work a sample (0.4 % of a CPU). */
const PROBE = `
const a = new Float64Array(4096);
const unit = () => { for (let r = 0; r < 50; r++) for (let i = 0; i < a.length; i++) a[i] = a[i] * 1.0000001 + i; };
for (let i = 0; i < 100; i++) unit();
setInterval(() => {
  const c0 = process.cpuUsage();
  for (let k = 0; k < 5; k++) unit();
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  if (ms > 0) process.stdout.write(Date.now() + ' ' + (5 / ms) + '\\n');
}, ${SAMPLE_MS});
`;

interface Sample {
  at: number;
  speed: number;
}

/** The CPUs this process may run on (a container or taskset may allow fewer than the machine has). */
function allowedCpus(): number[] {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  return list.split(',').flatMap((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return Number.isInteger(from) && Number.isInteger(to) ? Array.from({ length: to! - from! + 1 }, (_, k) => from! + k) : [];
  });
}

export class MachineSpeed {
  private readonly samples: Sample[][];
  private readonly children: ChildProcess[];

  /** `cpus`: one probe pinned to each; none: one unpinned probe. */
  private constructor(cpus: number[] | undefined) {
    this.samples = Array.from({ length: cpus?.length ?? 1 }, () => []);
    this.children = this.samples.map((into, k) => {
      const child = cpus ? spawn('taskset', ['-c', String(cpus[k]), process.execPath, '-e', PROBE], { stdio: ['ignore', 'pipe', 'ignore'] }) : spawn(process.execPath, ['-e', PROBE], { stdio: ['ignore', 'pipe', 'ignore'] });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const [at, speed] = line.split(' ').map(Number);
        if (Number.isFinite(at) && Number.isFinite(speed)) into.push({ at: at!, speed: speed! });
      });
      return child;
    });
  }

  /** Pinned to each CPU this process may use, where `taskset` exists (util-linux); one unpinned probe otherwise. */
  static start(): MachineSpeed {
    const cpus = spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0 ? allowedCpus() : [];
    return new MachineSpeed(cpus.length > 0 ? cpus : undefined);
  }

  /** The mean over CPUs of each CPU's mean speed in [from, to); undefined where a CPU has no sample there. */
  speedBetween(from: number, to: number): number | undefined {
    const perCpu = this.samples.map((s) => {
      const inside = s.filter((x) => x.at >= from && x.at < to);
      return inside.length === 0 ? undefined : inside.reduce((a, x) => a + x.speed, 0) / inside.length;
    });
    if (perCpu.some((v) => v === undefined)) return undefined;
    return (perCpu as number[]).reduce((a, b) => a + b, 0) / perCpu.length;
  }

  stop(): void {
    for (const c of this.children) c.kill();
  }
}
