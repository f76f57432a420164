// The eaas commands: each one's module, loaded on use, with its run function and its flag table.
import type { FlagTable } from './flags.js';

export interface Command {
  run(argv: string[]): Promise<void>;
  flags: FlagTable;
}

const command =
  <M extends { FLAGS: FlagTable }>(load: () => Promise<M>, run: (m: M) => Command['run']) =>
  async (): Promise<Command> => {
    const m = await load();
    return { run: run(m), flags: m.FLAGS };
  };

/** By name as typed; two-word names ("model init") are one command. */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: command(() => import('./generate.js'), (m) => m.generateCommand),
  eval: command(() => import('./eval.js'), (m) => m.evalCommand),
  'model init': command(() => import('./model-init.js'), (m) => m.modelInitCommand),
  'secure init': command(() => import('./secure-init.js'), (m) => m.secureInitCommand),
  up: command(() => import('./up.js'), (m) => m.upCommand),
  node: command(() => import('./node.js'), (m) => m.nodeCommand),
  status: command(() => import('./status.js'), (m) => m.statusCommand),
  retire: command(() => import('./retire.js'), (m) => m.retireCommand),
  placement: command(() => import('./placement.js'), (m) => m.placementCommand),
  dashboard: command(() => import('./dashboard.js'), (m) => m.dashboardCommand),
  simulate: command(() => import('./simulate.js'), (m) => m.simulateCommand),
  hosts: command(() => import('./hosts.js'), (m) => m.hostsCommand),
};
