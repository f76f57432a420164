#!/usr/bin/env node
// The eaas command line: picks the subcommand and turns any failure into one line on stderr.
import { PACKAGE_VERSION } from '../../observability/version.js';
import { COMMANDS } from './commands.js';
import { commandHelp } from './help.js';
import { USAGE, UsageError } from './usage.js';

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`eaas ${PACKAGE_VERSION}\n`);
    return;
  }
  // `eaas help COMMAND` is `eaas COMMAND --help`
  if (argv[0] === 'help' && argv.length > 1) argv = [...argv.slice(1), '--help'];
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const twoWord = `${argv[0]} ${argv[1] ?? ''}`;
  const name = twoWord in COMMANDS ? twoWord : argv[0];
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command "${argv[0]}" (see eaas --help)`);
  const rest = argv.slice(name.split(' ').length);
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(name, command.flags) + '\n');
    return;
  }
  await command.run(rest);
}

const argv = process.argv.slice(2);
main(argv).catch((err: unknown) => {
  const verbose = argv.includes('--verbose') || process.env.EAAS_VERBOSE === '1';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`eaas: ${message.split('\n')[0]}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
