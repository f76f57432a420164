// Flag parsing on node:util parseArgs, with EAAS_<FLAG> environment fallbacks.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type ParseOption = Options[string];

/**
 * A flag as a command declares it: parseArgs' option plus its line in `eaas COMMAND --help`. `help` and `default`
 * are for that line only (parseFlags strips them before parseArgs): the command applies its default itself, after
 * the EAAS_<FLAG> fallback.
 */
export type FlagSpec = ParseOption & {
  /** One line: what the flag does. */
  help: string;
  /** What an absent flag means, as the help shows it. */
  default?: string;
  /** The value's placeholder in the help, e.g. DIR or URL (string flags). */
  arg?: string;
};
export type FlagTable = Record<string, FlagSpec>;
/** What parseFlags takes: a command's FlagTable, or bare parseArgs options. */
type FlagOptions = Record<string, ParseOption & Partial<Omit<FlagSpec, keyof ParseOption>>>;

/** The parseArgs options of a flag table: without the help's fields, which parseArgs rejects (or, `default`, would apply). */
function parseOptions(flags: FlagOptions): Options {
  return Object.fromEntries(Object.entries(flags).map(([name, { help: _help, default: _default, arg: _arg, ...option }]) => [name, option]));
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * `--max-tokens -3` reads to parseArgs as a flag followed by an unknown option; a string flag followed by
 * something number-like is given its value as `--max-tokens=-3`, so the flag's own check can say what is wrong.
 */
function attachNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = /^--([^=]+)$/.exec(argv[i])?.[1];
    const next = argv[i + 1];
    if (flag !== undefined && options[flag]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${flag}=${next}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

export const envName = (flag: string) => `EAAS_${flag.toUpperCase().replace(/-/g, '_')}`;

/** What vLLM and llama.cpp users type for the HTTP front's address, where a command has one. */
const ALIASES: Record<string, string> = { '--port': '--http-port', '--host': '--http-host' };

function applyAliases(argv: string[], options: Options): string[] {
  return argv.map((a) => {
    const [flag, ...rest] = a.split('=');
    const to = ALIASES[flag];
    return to && options[to.slice(2)] && !options[flag.slice(2)] ? [to, ...rest].join('=') : a;
  });
}

/** Edit distance, for the closest known flag to a misspelt one. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** `unknown option --port; did you mean --http-port?`: the known flag that contains it, or the nearest one. */
function unknownOption(message: string, options: Options): string | undefined {
  const flag = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (!flag) return undefined;
  const name = flag.replace(/^-+/, '');
  const known = Object.keys(options);
  const near = known.filter((k) => k.includes(name) || name.includes(k)).sort((a, b) => a.length - b.length)[0]
    ?? known.map((k) => ({ k, d: distance(name, k) })).filter(({ d }) => d <= Math.max(2, name.length / 3)).sort((a, b) => a.d - b.d)[0]?.k;
  return `unknown option ${flag}${near ? `; did you mean --${near}?` : ''} (see eaas --help)`;
}

/** Parses argv strictly; a flag missing on the command line is taken from EAAS_<FLAG> when set. */
export function parseFlags(argv: string[], flags: FlagOptions, env: NodeJS.ProcessEnv = process.env): Parsed {
  const options = parseOptions(flags);
  let parsed;
  try {
    parsed = parseArgs({ args: attachNegativeValues(applyAliases(argv, options), options), options: { ...options, verbose: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    throw new UsageError(unknownOption(message, options) ?? `${message} (see eaas --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  for (const [flag, spec] of Object.entries(options)) {
    const fromEnv = env[envName(flag)];
    if (values[flag] !== undefined || fromEnv === undefined) continue;
    values[flag] = spec.type === 'boolean' ? ['1', 'true', 'yes'].includes(fromEnv.toLowerCase()) : fromEnv;
  }
  return { values, positionals: parsed.positionals };
}

export function intFlag(values: Parsed['values'], flag: string, fallback: number | undefined, min = 0): number {
  return numericFlag(values, flag, fallback, min, true);
}

/** A finite number, fractions allowed. */
export function numberFlag(values: Parsed['values'], flag: string, fallback: number | undefined, min = 0): number {
  return numericFlag(values, flag, fallback, min, false);
}

function numericFlag(values: Parsed['values'], flag: string, fallback: number | undefined, min: number, integer: boolean): number {
  const raw = values[flag];
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${flag} is required`);
    return fallback;
  }
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < min) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got "${raw}"`);
  }
  return n;
}

export function stringFlag(values: Parsed['values'], flag: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' ? v : undefined;
}

export function requiredString(values: Parsed['values'], flag: string, hint = ''): string {
  const v = stringFlag(values, flag);
  if (v === undefined || v === '') throw new UsageError(`--${flag} is required${hint ? `: ${hint}` : ''}`);
  return v;
}

/** "1,2,3" -> [1, 2, 3]. */
export function idList(raw: string, flag: string): number[] {
  const parts = raw.split(',').map((s) => s.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isInteger(ids[i]) || ids[i] < 0);
  if (bad >= 0) throw new UsageError(`--${flag} must be comma-separated non-negative integers, "${parts[bad]}" is not one`);
  return ids;
}
