import { Command, CommanderError } from 'commander';
import { FasopError, isFasopError } from '../errors.js';
import { writeError } from '../guard/write.js';
import { ExitStatus } from './exit.js';
import { processIo, type CliIo } from './io.js';
import { exportCommand } from './export.js';
import { paretoHooks } from './pareto-hooks.js';
import { profilesCommand } from './profiles.js';
import { searchCommand } from './search.js';
import { serveCommand } from './serve.js';
import { extractGpus } from './search-options.js';
import { repeatedFlag } from './flag-modes.js';
import { validateCommand } from './validate.js';

/** System error codes that come from the disk or permissions, reported as one line and exit 2. */
const ENVIRONMENT_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'EPERM', 'EROFS', 'EPIPE', 'EFBIG']);

const SUBCOMMANDS = ['profiles', 'search', 'export', 'serve', 'validate', 'help'];

/** Commander's own errors (unknown flag, bad choice, missing value) in our one-line format. */
function commanderErrorLine(text: string, command: string): string {
  const problem = text.trim().replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, '; ');
  return `fasop: error: ${problem} — fix: see 'fasop${command ? ` ${command}` : ''} --help' for the accepted flags and values\n`;
}

function output(io: CliIo, command: string) {
  return {
    writeOut: (s: string) => io.out(s),
    writeErr: (s: string) => io.err(s),
    outputError: (s: string, write: (s: string) => void) => write(commanderErrorLine(s, command)),
  };
}

/** Build the program; each subcommand lives in its own file. */
export function buildProgram(io: CliIo, gpuTokens?: string[]): Command {
  const program = new Command('fasop')
    .description('Find the fastest and cheapest parallelization (TP, PP, DP, micro-batch, layer partition) for training a Transformer LLM on a GPU cluster, heterogeneous clusters included.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput(output(io, ''));
  for (const sub of [profilesCommand(io), searchCommand(io, gpuTokens, paretoHooks), exportCommand(io, gpuTokens), serveCommand(io), validateCommand(io)]) {
    program.addCommand(sub.exitOverride().configureOutput(output(io, sub.name())));
  }
  return program;
}

/** Run the CLI; returns the exit status (0 ok, 2 user error, 3 no plan fits: docs/outputs.md). Never throws for user errors. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  // `fasop --gpus A40 8 ...` without a subcommand means `fasop search ...`.
  const args = argv.length > 0 && !SUBCOMMANDS.includes(argv[0]!) && !['-h', '--help', '-V', '--version'].includes(argv[0]!)
    ? ['search', ...argv]
    : argv;
  // `--gpus T C ...` is taken out before commander parses: its variadic would read `-1` as a flag.
  const { rest, gpus } = extractGpus(args);
  // only search and export read --gpus; elsewhere it would be dropped without a word
  if (gpus !== undefined && ['profiles', 'serve', 'validate'].includes(rest[0] ?? '')) {
    const fix = rest[0] === 'profiles' ? "pick a GPU with --gpu TYPE (see 'fasop profiles --help')" : `drop --gpus (see 'fasop ${rest[0]} --help')`;
    io.err(new FasopError(`--gpus does nothing with 'fasop ${rest[0]}'`, fix).oneLine());
    return 2;
  }
  const twice = repeatedFlag(rest);
  if (twice) {
    io.err(new FasopError(`${twice.flag} is given ${twice.values.length} times (${twice.values.map((v) => v || '(no value)').join(', ')}); only one would count`, `give ${twice.flag} once`).oneLine());
    return 2;
  }
  const program = buildProgram(io, gpus);
  try {
    await program.parseAsync(rest, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    if (err instanceof ExitStatus) return err.code;
    if (isFasopError(err)) {
      io.err(err.oneLine());
      return 2;
    }
    // A write that the system refused (disk full, permissions, I/O error) is the environment, not a bug.
    const sys = err as NodeJS.ErrnoException;
    if (sys && typeof sys.code === 'string' && ENVIRONMENT_ERRORS.has(sys.code) && typeof sys.syscall === 'string') {
      io.err(writeError(sys.path ?? `(${sys.syscall})`, sys).oneLine());
      return 2;
    }
    throw err;
  }
}
