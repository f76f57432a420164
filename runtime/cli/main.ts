#!/usr/bin/env node
// The eaas command line: picks the subcommand and turns any failure into one line on stderr.
import { PACKAGE_VERSION } from '../../observability/version.js';
import { USAGE, UsageError } from './usage.js';

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import('./generate.js')).generateCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  'model init': async () => (await import('./model-init.js')).modelInitCommand,
  'secure init': async () => (await import('./secure-init.js')).secureInitCommand,
  up: async () => (await import('./up.js')).upCommand,
  node: async () => (await import('./node.js')).nodeCommand,
  status: async () => (await import('./status.js')).statusCommand,
  retire: async () => (await import('./retire.js')).retireCommand,
  placement: async () => (await import('./placement.js')).placementCommand,
};

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`eaas ${PACKAGE_VERSION}\n`);
    return;
  }
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const twoWord = `${argv[0]} ${argv[1] ?? ''}`;
  const name = twoWord in COMMANDS ? twoWord : argv[0];
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command "${argv[0]}" (see eaas --help)`);
  const rest = argv.slice(name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  await (await load())(rest);
}

const argv = process.argv.slice(2);
main(argv).catch((err: unknown) => {
  const verbose = argv.includes('--verbose') || process.env.EAAS_VERBOSE === '1';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`eaas: ${message.split('\n')[0]}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
