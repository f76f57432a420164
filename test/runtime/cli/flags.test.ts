import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../runtime/cli/commands.js';
import { idList, intFlag, numberFlag, parseFlags } from '../../../runtime/cli/flags.js';
import { UsageError } from '../../../runtime/cli/usage.js';

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

  it('names the closest known flag to an unknown one, and takes --port and --host for the HTTP front where there is one', () => {
    const HTTP = { 'http-port': { type: 'string' }, 'http-host': { type: 'string' }, 'nats-port': { type: 'string' }, 'max-tokens': { type: 'string' } } as const;
    expect(() => parseFlags(['--max-token', '3'], HTTP, {})).toThrow('unknown option --max-token; did you mean --max-tokens? (see eaas --help)');
    expect(() => parseFlags(['--http-prot', '3'], HTTP, {})).toThrow(/did you mean --http-port\?/);
    expect(() => parseFlags(['--zzzzzz'], HTTP, {})).toThrow(/^unknown option --zzzzzz \(see eaas --help\)$/);
    expect(parseFlags(['--port', '9000', '--host=0.0.0.0'], HTTP, {}).values).toMatchObject({ 'http-port': '9000', 'http-host': '0.0.0.0' });
    // a command without an HTTP front has no --port
    expect(() => parseFlags(['--port', '1'], FLAGS, {})).toThrow(/unknown option --port/);
  });

  it('takes a flag table with help lines, and leaves an absent flag to its EAAS_ variable rather than the shown default', () => {
    const TABLE = { 'max-tokens': { type: 'string', arg: 'N', help: 'tokens', default: '16' } } as const;
    expect(parseFlags([], TABLE, {}).values['max-tokens']).toBeUndefined();
    expect(parseFlags([], TABLE, { EAAS_MAX_TOKENS: '7' }).values['max-tokens']).toBe('7');
    expect(parseFlags(['--max-tokens', '9'], TABLE, {}).values['max-tokens']).toBe('9');
  });

  it('describes every flag of every command for its --help', async () => {
    for (const [name, load] of Object.entries(COMMANDS)) {
      const { flags } = await load();
      expect(Object.keys(flags).length, name).toBeGreaterThan(0);
      for (const [flag, spec] of Object.entries(flags)) {
        expect(spec.help?.trim(), `eaas ${name} --${flag} has no help`).toBeTruthy();
        if (spec.type === 'string') expect(spec.arg?.trim(), `eaas ${name} --${flag} has no VALUE placeholder`).toBeTruthy();
        if (spec.default !== undefined) expect(spec.default.trim(), `eaas ${name} --${flag} has an empty default`).toBeTruthy();
      }
    }
  });

  it('names the bad entry of an id list', () => {
    expect(idList('1, 2,3', 'prompt-ids')).toEqual([1, 2, 3]);
    expect(() => idList('1,-2', 'prompt-ids')).toThrow(/"-2" is not one/);
  });
});
