import { Command, CommanderError } from 'commander';
import { isFasopError } from '../errors.js';
import { processIo, type CliIo } from './io.js';
import { profilesCommand } from './profiles.js';
import { searchCommand } from './search.js';
import { serveCommand } from './serve.js';
import { extractGpus } from './search-options.js';

const SUBCOMMANDS = ['profiles', 'search', 'export', 'serve', 'validate', 'help'];

/** Build the program; each subcommand lives in its own file. */
export function buildProgram(io: CliIo, gpuTokens?: string[]): Command {
  const program = new Command('fasop')
    .description('Find the fastest and cheapest parallelization (TP, PP, DP, micro-batch, layer partition) for training a Transformer LLM on a GPU cluster, heterogeneous clusters included.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  for (const sub of [profilesCommand(io), searchCommand(io, gpuTokens), serveCommand(io)]) {
    program.addCommand(sub.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) }));
  }
  return program;
}

/** Run the CLI; returns the exit status (0 ok, 2 user error). Never throws for user errors. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  // `fasop --gpus A40 8 ...` without a subcommand means `fasop search ...`.
  const args = argv.length > 0 && !SUBCOMMANDS.includes(argv[0]!) && !['-h', '--help', '-V', '--version'].includes(argv[0]!)
    ? ['search', ...argv]
    : argv;
  // `--gpus T C ...` is taken out before commander parses: its variadic would read `-1` as a flag.
  const { rest, gpus } = extractGpus(args);
  const program = buildProgram(io, gpus);
  try {
    await program.parseAsync(rest, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    if (isFasopError(err)) {
      io.err(err.oneLine());
      return 2;
    }
    throw err;
  }
}
