// Spares: booted ahead in the idle scheduling class where the node may give the normal one back, warmed over NATS
// while they idle, and serving in the normal class once assigned. The warm-up itself: real dispatches through a real
// actor, and it stops when told to.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { warmUp } from '../../../actors/expert/warm-up.js';
import { decodeDispatchReply, encodeDispatch, isChildMessage } from '../../../actors/protocol/messages.js';
import { Checkpoint } from '../../../model/checkpoint.js';
import { ExpertSet } from '../../../model/experts.js';
import { initCheckpoint } from '../../../model/init.js';
import { ActorProcesses, mayLeaveIdleClass } from '../../../runtime/node/actor-processes.js';
import { EXPERT_ENV } from '../../../runtime/node/expert-env.js';
import { newInbox } from '../../../runtime/transport/connection.js';
import * as subjects from '../../../runtime/transport/subjects.js';
import { DIST, ensureBuilt } from '../../helpers/build.js';
import { useNatsServer } from '../../helpers/nats.js';

/** Every thread's scheduling policy, as chrt(1) names it (SCHED_OTHER, SCHED_IDLE). */
function policies(pid: number): string[] {
  // a thread that exits between the listing and chrt is left out
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => /policy: (\S+)/.exec(spawnSync('chrt', ['-p', tid], { encoding: 'utf8' }).stdout)?.[1] ?? []);
}

const ready = (p: ChildProcess) =>
  new Promise<void>((resolve, reject) => {
    p.on('message', (m) => isChildMessage(m) && m.kind === 'ready' && resolve());
    p.once('exit', (code) => reject(new Error(`expert process exited (${code}) before it was ready`)));
  });

describe('spare expert processes', () => {
  const nats = useNatsServer();
  let root: string;
  let dir: string;
  let nc: NatsConnection;
  let processes: ActorProcesses;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'eaas-spares-'));
    dir = join(root, 'm');
    initCheckpoint(dir, { preset: 'tiny', seed: 3 });
    nc = await nats.connect();
    const env = { ...process.env, [EXPERT_ENV.nats]: nats.url, [EXPERT_ENV.modelDir]: dir, [EXPERT_ENV.model]: 'spares', [EXPERT_ENV.node]: 'n' };
    processes = new ActorProcesses(join(DIST, 'runtime', 'node', 'expert-process.js'), env, 1, 300);
  });
  afterAll(() => {
    processes?.stop();
    for (const p of started) p.kill('SIGKILL');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('boot in the idle class, warm up over NATS, and serve in the normal class once assigned', async () => {
    // the warm-up's dispatches go to an inbox of the spare's own
    let warmUpMessages = 0;
    const ownInboxes = subjects.inboxPrefix(newInbox(nc).split('.').slice(0, 2).join('.').slice('_INBOX.'.length));
    nc.subscribe('_INBOX.>', { callback: (_err, m) => void (!m.subject.startsWith(ownInboxes) && warmUpMessages++) });
    const first = processes.start({ [EXPERT_ENV.instance]: 'a', [EXPERT_ENV.experts]: '0:0' });
    started.push(first);
    await ready(first);
    expect(policies(first.pid!).every((p) => p === 'SCHED_OTHER')).toBe(true);

    // the spare boots once the first actor serves
    const spare = () => descendantsOf(process.pid).find((pid) => pid !== first.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('expert-process.js'));
    await vi.waitFor(() => expect(spare()).toBeDefined(), { timeout: 10_000, interval: 50 });
    const sparePid = spare()!;
    if (mayLeaveIdleClass()) {
      expect(policies(sparePid)).toContain('SCHED_IDLE');
      // in the idle class it runs only while the cores are idle: other test files may keep them busy for a while
      await vi.waitFor(() => expect(warmUpMessages).toBeGreaterThan(20), { timeout: 90_000, interval: 100 });
    } else expect(policies(sparePid).every((p) => p === 'SCHED_OTHER')).toBe(true);

    const second = processes.start({ [EXPERT_ENV.instance]: 'b', [EXPERT_ENV.experts]: '0:1' });
    started.push(second);
    expect(second.pid).toBe(sparePid);
    await ready(second);
    expect(policies(second.pid!).every((p) => p === 'SCHED_OTHER')).toBe(true);
    const H = Checkpoint.open(dir).config.hiddenSize;
    const reply = await nc.request(subjects.expertDispatch('spares', 'b'), encodeDispatch({ layer: 0, experts: [1], rows: [3], x: new Float32Array(3 * H).fill(0.5) }, H, 'f32'), { timeout: 10_000 });
    expect(decodeDispatchReply(reply.data, 3, H)).toHaveLength(3 * H);

    // the spare refilled meanwhile would warm up on NATS beside the next test's count
    processes.stop();
    for (const p of started) p.kill('SIGKILL');
    await vi.waitFor(() => expect(descendantsOf(process.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('expert-process.js'))).toEqual([]), { timeout: 10_000, interval: 50 });
  }, 150_000);

  it('warm up with real dispatches through an actor, and stop when told', async () => {
    const ckpt = Checkpoint.open(dir);
    const keys = [0, 1].map((expert) => ({ layer: 0, expert }));
    const experts = await ExpertSet.load(ckpt, keys, 1);
    const H = ckpt.config.hiddenSize;
    ckpt.close();
    try {
      const subject = newInbox(nc);
      let answers = 0;
      nc.subscribe('_INBOX.>', { callback: (_err, m) => void (m.subject !== subject && m.data.byteLength > 3 * H && answers++) });
      expect(await warmUp({ nc, subject, hidden: H, keys, experts, dispatches: 40, stopped: () => false })).toBe(40);
      await nc.flush();
      // every dispatch got an answer with its rows (at least one row of H float32s)
      expect(answers).toBe(40);
      let asked = 0;
      expect(await warmUp({ nc, subject: newInbox(nc), hidden: H, keys, experts, dispatches: 40, stopped: () => ++asked > 7 })).toBe(7);
    } finally {
      await experts.release();
    }
  });
});

/** Every process below `pid`. */
function descendantsOf(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.flatMap((c) => [c, ...descendantsOf(c)]);
}
