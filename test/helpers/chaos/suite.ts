// Vitest glue for chaos test files: one shared env per file, and a report printed at the end.
import { cpus } from 'node:os';
import { afterAll, beforeAll } from 'vitest';
import { printReports } from './report.js';
import { prepareEnv, type ChaosEnv } from './scenarios.js';

/** Call at file level; the env is valid inside tests. `short` forces the short form (default: from CHAOS_SHORT / CI). */
export function useChaosEnv(title: string, short?: boolean): () => ChaosEnv {
  let env: ChaosEnv | undefined;
  beforeAll(async () => {
    env = await prepareEnv(short);
  });
  afterAll(() => {
    if (env && env.reports.length > 0) printReports(env.reports, `${title} (${env.timing.short ? 'short' : 'full'}, seed ${env.seed}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'})`);
    env?.remove();
  });
  return () => {
    if (!env) throw new Error('chaos env is not ready: use it inside tests');
    return env;
  };
}

/** Per-test bound: the load, the fault-free run, draining and recovery, with room to spare. */
export const scenarioTimeout = (short: boolean) => (short ? 90_000 : 240_000);
