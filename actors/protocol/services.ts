// The NATS micro service names every actor registers under, and the version they announce.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXPERT_SERVICE = 'eaas-expert';
export const GATE_SERVICE = 'eaas-gate';
export const SUPERVISOR_SERVICE = 'eaas-supervisor';

/** The package's own version (SemVer), from the package.json above this file in source or in dist/. */
export const SERVICE_VERSION: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'eaas' && pkg.version) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return '0.0.0';
    dir = up;
  }
})();
