import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, SettingError, settingsFromEnv } from '../../../runtime/node/settings.js';
import { ROOT } from '../../helpers/build.js';

/** The README's rows of tuning knobs: | `EAAS_X` | default | doc |. */
function readmeRows(): Map<string, { default: string; doc: string }> {
  const rows = new Map<string, { default: string; doc: string }>();
  for (const line of readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n')) {
    const m = /^\| `(EAAS_[A-Z_]+)` \| (.*?) \| (.*) \|$/.exec(line);
    if (m) rows.set(m[1], { default: m[2], doc: m[3] });
  }
  return rows;
}

describe('EAAS_* settings', () => {
  it('are the README table, row for row: name, default and doc', () => {
    const declared = new Map(Object.values(SETTINGS).map((d) => [d.env, { default: d.default === undefined ? 'unset' : String(d.default), doc: d.doc }]));
    expect(Object.fromEntries(readmeRows())).toEqual(Object.fromEntries(declared));
  });

  it('take the declared defaults, and a valid value from the environment', () => {
    const s = settingsFromEnv({ EAAS_HANG_MS: '900' });
    expect(s.hangMs).toBe(900);
    expect(s.dispatchTimeoutMs).toBe(SETTINGS.dispatchTimeoutMs.default);
    expect(s.ortThreads).toBeUndefined();
  });

  it('refuse a value that is not an integer within range, naming the variable', () => {
    expect(() => settingsFromEnv({ EAAS_HANG_MS: 'soon' })).toThrow(SettingError);
    expect(() => settingsFromEnv({ EAAS_HANG_MS: '0' })).toThrow(/EAAS_HANG_MS must be an integer >= 1, got "0"/);
    expect(() => settingsFromEnv({ EAAS_ORT_THREADS: '1.5' })).toThrow(/EAAS_ORT_THREADS/);
  });
});
