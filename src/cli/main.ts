/** The `univg` command line. Each command lives in `src/cli/commands/`. */
import { CommanderError } from 'commander';
import { EXIT } from '../errors.js';
import { reportError, setDebug, takeDebug } from './action.js';
import { buildProgram } from './program.js';

export async function main(argv: string[]): Promise<void> {
  const { argv: args, debug } = takeDebug(argv);
  if (debug) setDebug(true);
  // `univg ... | head` closes the pipe early: that is the reader's choice, not an error to report.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(process.exitCode ?? EXIT.ok) : reportError(e)));
  process.stderr.on('error', () => process.exit(process.exitCode ?? EXIT.failed));
  // Errors outside a command's own flow (a timer, a stream callback) end the same way as the rest.
  process.on('uncaughtException', (err) => {
    reportError(err);
    process.exit(process.exitCode ?? EXIT.failed);
  });
  process.on('unhandledRejection', (err) => {
    reportError(err);
    process.exit(process.exitCode ?? EXIT.failed);
  });
  const program = buildProgram();
  try {
    await program.parseAsync(args);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; unknown options and missing arguments are usage errors (printed by program.ts).
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    reportError(err);
  }
}

await main(process.argv);
