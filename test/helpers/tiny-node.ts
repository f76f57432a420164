// The setup many suites share: a real nats-server, a tiny checkpoint and one node of eaas on them, started before
// the suite's tests and stopped after (node first, then the checkpoint, then the server).
import { afterAll, beforeAll } from 'vitest';
import { startNode, type NodeOptions, type RunningNode } from '../../runtime/node/cluster.js';
import { ensureBuilt } from './build.js';
import { withEnv } from './env.js';
import { useNatsServer, type NatsTestServer } from './nats.js';
import { tinyCheckpointDir } from './tiny-model.js';

export interface TinyNode {
  readonly nats: NatsTestServer;
  /** The checkpoint's directory; valid after beforeAll. */
  readonly dir: string;
  /** The running node; valid after beforeAll. */
  readonly node: RunningNode;
}

/** Call at suite level. `env`: EAAS_* settings the node (and its expert actors) start with. */
export function useTinyNode(o: Omit<NodeOptions, 'nats' | 'modelDir'>, env: Record<string, string> = {}): TinyNode {
  const nats = useNatsServer();
  let tiny: ReturnType<typeof tinyCheckpointDir> | undefined;
  let node: RunningNode | undefined;
  beforeAll(async () => {
    ensureBuilt();
    tiny = tinyCheckpointDir();
    node = await withEnv(env, () => startNode({ ...o, nats: nats.url, modelDir: tiny!.dir }));
  });
  afterAll(async () => {
    await node?.stop();
    tiny?.remove();
  });
  return {
    nats,
    get dir() {
      return tiny!.dir;
    },
    get node() {
      return node!;
    },
  };
}
