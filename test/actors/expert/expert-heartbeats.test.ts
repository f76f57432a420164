// An expert actor computes off its process's main thread: during its largest dispatch its heartbeats keep coming;
// a computation that does not return stops them once the actor's thread has been silent for EAAS_ACTOR_SILENCE_MS.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDispatchReply, encodeDispatch, isChildMessage } from '../../../actors/protocol/messages.js';
import { initCheckpoint } from '../../../model/init.js';
import { DIST, ensureBuilt } from '../../helpers/build.js';
import { useNatsServer } from '../../helpers/nats.js';
import * as subjects from '../../../runtime/transport/subjects.js';

const HIDDEN = 512;
const FFN = 2048;
const BEAT_MS = 20;
/** About 7 MB of rows: the largest message under the embedded server's 8 MB max_payload. */
const ROWS = 3500;

describe('expert actor heartbeats', () => {
  const nats = useNatsServer();
  let root: string;
  let child: ChildProcess;
  const beats: number[] = [];

  let stuck: ChildProcess | undefined;
  /** An expert actor process hosting 0:0 as instance `instance`, its beats' times pushed onto `into`; resolves once ready. */
  async function startActor(instance: string, into: number[], env: Record<string, string> = {}): Promise<ChildProcess> {
    const actor = fork(join(DIST, 'runtime', 'node', 'expert-process.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        EAAS_CHILD_NATS: nats.url,
        EAAS_CHILD_MODEL_DIR: join(root, 'm'),
        EAAS_CHILD_MODEL: 'beats',
        EAAS_CHILD_INSTANCE: instance,
        EAAS_CHILD_NODE: 'n',
        EAAS_CHILD_EXPERTS: '0:0',
        EAAS_HEARTBEAT_MS: String(BEAT_MS),
        ...env,
      },
    });
    await new Promise<void>((resolve, reject) => {
      actor.on('message', (m) => {
        if (!isChildMessage(m)) return;
        if (m.kind === 'beat') into.push(performance.now());
        else resolve();
      });
      actor.once('exit', (code) => reject(new Error(`expert actor exited (${code}) before it was ready`)));
    });
    return actor;
  }

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'eaas-beats-'));
    // one layer of two experts large enough that a full dispatch takes a while on one thread
    initCheckpoint(join(root, 'm'), { preset: 'tiny', seed: 1, config: { hiddenSize: HIDDEN, intermediateSize: FFN, numHiddenLayers: 1, numAttentionHeads: 8, numKeyValueHeads: 2, headDim: 64 } });
    child = await startActor('x', beats);
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    stuck?.kill('SIGKILL');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('keep their period while the actor computes its largest dispatch', async () => {
    const nc = await nats.connect();
    const x = new Float32Array(ROWS * HIDDEN).map((_, i) => Math.sin(i) * 0.1);
    const payload = encodeDispatch({ layer: 0, experts: [0], rows: [ROWS], x }, HIDDEN, 'f32');
    const sent = performance.now();
    const reply = await nc.request(subjects.expertDispatch('beats', 'x'), payload, { timeout: 30_000 });
    const answered = performance.now();
    expect(decodeDispatchReply(reply.data, ROWS, HIDDEN)).toHaveLength(ROWS * HIDDEN);
    const during = beats.filter((t) => t > sent && t < answered);
    const expected = Math.floor((answered - sent) / BEAT_MS);
    // the dispatch must be long enough to tell a free loop from a blocked one
    expect(expected).toBeGreaterThanOrEqual(4);
    // a blocked loop sends none until the compute ends; a free one about one per period
    expect(during.length).toBeGreaterThanOrEqual(expected / 2);
  });

  it('stop once the actor thread has been silent past EAAS_ACTOR_SILENCE_MS in a computation that does not return', async () => {
    const stuckBeats: number[] = [];
    const SILENCE_MS = 500;
    stuck = await startActor('stuck', stuckBeats, { EAAS_EXPERT_STALL_MS: '60000', EAAS_ACTOR_SILENCE_MS: String(SILENCE_MS) });
    const nc = await nats.connect();
    const x = new Float32Array(HIDDEN).fill(0.1);
    const sent = performance.now();
    // never answered: the thread blocks in the dispatch
    nc.request(subjects.expertDispatch('beats', 'stuck'), encodeDispatch({ layer: 0, experts: [0], rows: [1], x }, HIDDEN, 'f32'), { timeout: 5_000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, SILENCE_MS + 1_500));
    const after = stuckBeats.filter((t) => t > sent);
    // the beats go on while the silence is short (the main thread is free), then stop: the supervisor's hang bound takes over
    expect(after.length).toBeGreaterThan(0);
    const last = after[after.length - 1];
    expect(last - sent).toBeLessThan(SILENCE_MS + 2 * BEAT_MS + 300);
    expect(performance.now() - last).toBeGreaterThan(1_000);
    expect(stuck.exitCode).toBeNull();
  });
});
