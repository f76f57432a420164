import { benchCheckpoint } from './checkpoints.js';
for (const p of ['tiny', 'bench'] as const) console.log(p, benchCheckpoint(p));
