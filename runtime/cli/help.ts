// `eaas COMMAND --help`: the command's usage lines from USAGE, then each of its flags with its default.
import { envName, type FlagTable } from './flags.js';
import { USAGE } from './usage.js';

/** What every command takes besides its own flags (parseFlags adds --verbose; main answers --help). */
const COMMON: FlagTable = {
  verbose: { type: 'boolean', help: 'the stack trace with an error' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

/** USAGE's lines for this command (`up` has two: with and without --monolithic). */
function usageLines(command: string): string[] {
  return USAGE.split('\n').filter((l) => l.startsWith(`  eaas ${command} `) || l === `  eaas ${command}`);
}

/** Each flag as [`--flag VALUE`, `what it does (default: X)`]. */
function rows(flags: FlagTable): [string, string][] {
  return Object.entries(flags).map(([name, f]) => [
    `${f.short ? `-${f.short}, ` : ''}--${name}${f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : ''}`,
    `${f.help}${f.default !== undefined ? ` (default: ${f.default})` : ''}`,
  ]);
}

const lines = (rows: [string, string][], width: number) => rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`);

export function commandHelp(command: string, flags: FlagTable): string {
  const own = rows(flags);
  const common = rows(COMMON);
  const width = Math.max(...[...own, ...common].map(([left]) => left.length));
  const example = Object.keys(flags).find((f) => flags[f].type === 'string') ?? 'verbose';
  return [
    'Usage:',
    ...usageLines(command),
    '',
    'Flags:',
    ...lines(own, width),
    '',
    'Common flags:',
    ...lines(common, width),
    '',
    ...(flags['http-port'] ? ['--port and --host stand for --http-port and --http-host.'] : []),
    `Every flag can also come from an environment variable EAAS_<FLAG> (e.g. ${envName(example)}); the command line wins.`,
  ].join('\n');
}
