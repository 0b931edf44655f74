/** The `univg` command line. Each command lives in `src/cli/commands/`. */
import { CommanderError } from 'commander';
import { EXIT } from '../errors.js';
import { buildProgram } from './program.js';

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; unknown options and missing arguments are usage errors.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    throw err;
  }
}

await main(process.argv);
