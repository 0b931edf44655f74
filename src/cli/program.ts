/** The `univg` command tree, built from the modules in `src/cli/commands/`. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('univg')
    .description('Reasoning-guided visual grounding: build verified CoT corpora, shard them, train and evaluate.')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const c of COMMANDS) c.register(program);
  return program;
}
