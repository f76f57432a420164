// The log lines: leveled and timestamped text whose fields split back, or one JSON object a line.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../observability/log.js';

describe('log lines', () => {
  it('writes time, level, message and key=value fields, quoting values with spaces, leaving out undefined ones', () => {
    const lines: string[] = [];
    createLogger('text', (l) => lines.push(l)).warn('placement revision 2', { reason: 'scale up', actors: 3, gone: undefined });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  placement revision 2 reason="scale up" actors=3\n$/);
  });

  it('writes one JSON object a line with --log-format json', () => {
    const lines: string[] = [];
    createLogger('json', (l) => lines.push(l)).info('request', { status: 200, path: '/v1/completions' });
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', msg: 'request', status: 200, path: '/v1/completions' });
  });
});
