import { describe, expect, it } from 'vitest';
import { idList, intFlag, numberFlag, parseFlags } from '../runtime/cli/flags.js';
import { UsageError } from '../runtime/cli/usage.js';

const FLAGS = { 'max-tokens': { type: 'string' }, json: { type: 'boolean' }, nats: { type: 'string' } } as const;

describe('CLI flags', () => {
  it('says what is wrong with a negative number instead of calling it an ambiguous argument', () => {
    const { values } = parseFlags(['--max-tokens', '-3'], FLAGS, {});
    expect(values['max-tokens']).toBe('-3');
    expect(() => intFlag(values, 'max-tokens', undefined, 1)).toThrow(/--max-tokens must be an integer >= 1, got "-3"/);
  });

  it('takes fractions in a number flag, and names what is wrong with a bad one', () => {
    const FLAG = { skew: { type: 'string' } } as const;
    expect(numberFlag(parseFlags(['--skew', '1.5'], FLAG, {}).values, 'skew', 0)).toBe(1.5);
    expect(numberFlag(parseFlags([], FLAG, {}).values, 'skew', 0)).toBe(0);
    for (const bad of ['-1', 'abc', '', 'Infinity']) {
      expect(() => numberFlag(parseFlags(['--skew', bad], FLAG, {}).values, 'skew', 0)).toThrow(`--skew must be a number >= 0, got "${bad}"`);
    }
  });

  it('still refuses an unknown option after a string flag', () => {
    expect(() => parseFlags(['--nats', '--bogus'], FLAGS, {})).toThrow(UsageError);
  });

  it('takes a flag missing on the command line from EAAS_<FLAG>; the command line wins', () => {
    expect(parseFlags([], FLAGS, { EAAS_MAX_TOKENS: '7', EAAS_JSON: 'true' }).values).toMatchObject({ 'max-tokens': '7', json: true });
    expect(parseFlags(['--max-tokens', '9'], FLAGS, { EAAS_MAX_TOKENS: '7' }).values['max-tokens']).toBe('9');
  });

  it('names the bad entry of an id list', () => {
    expect(idList('1, 2,3', 'prompt-ids')).toEqual([1, 2, 3]);
    expect(() => idList('1,-2', 'prompt-ids')).toThrow(/"-2" is not one/);
  });
});
