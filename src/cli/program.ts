/** The `univg` command tree, built from the modules in `src/cli/commands/`. */
import { Command } from 'commander';
import { UNIVG_VERSION } from '../store/version.js';
import { COMMANDS } from './commands/index.js';

/** The argv path of a command: `train sft`. */
const pathOf = (c: Command): string => {
  const names: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name());
  return names.join(' ');
};

/**
 * Commander's own errors (unknown option, missing argument, unknown command) in the project's form: one
 * line, `univg: usage: ...`, pointing at the command's help. Exit code 2 is set by main.ts.
 */
function usageLines(c: Command): void {
  for (const sub of c.commands) usageLines(sub);
  const help = `univg ${pathOf(c)} --help`.replace(/\s+/g, ' ');
  c.configureOutput({
    outputError: (str, write) => write(`univg: usage: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see ${help})\n`),
  });
}

export function buildProgram(): Command {
  const program = new Command('univg')
    .description('reasoning-guided visual grounding: build verified CoT corpora, shard them, train and evaluate')
    .version(UNIVG_VERSION)
    // Taken out of the arguments by main.ts, so it works anywhere on the line; declared here for --help.
    .option('--debug', 'print the stack trace of an error (for bug reports)')
    .exitOverride();
  for (const c of COMMANDS) c.register(program);
  usageLines(program);
  return program;
}
