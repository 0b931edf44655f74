/** The `univg` command tree, built from the modules in `src/cli/commands/`. */
import { Command } from 'commander';
import { UNIVG_VERSION } from '../store/version.js';
import { COMMANDS } from './commands/index.js';


export function buildProgram(): Command {
  const program = new Command('univg')
    .description('Reasoning-guided visual grounding: build verified CoT corpora, shard them, train and evaluate.')
    .version(UNIVG_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const c of COMMANDS) c.register(program);
  return program;
}
