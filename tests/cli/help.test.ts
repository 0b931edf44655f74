import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

/** Every leaf command, as its argv path. */
function leaves(cmd: Command, path: string[] = []): string[][] {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (subs.length === 0) return [path];
  return subs.flatMap((c) => leaves(c, [...path, c.name()]));
}

function helpOf(path: string[]): string {
  const program = buildProgram();
  let out = '';
  const capture = (c: Command) => {
    c.configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (out += s) });
    c.exitOverride();
    c.commands.forEach(capture);
  };
  capture(program);
  try {
    program.parse(['node', 'univg', ...path, '--help']);
  } catch {
    // commander throws after printing help (exitOverride); the text is what we check
  }
  return out;
}

describe('univg --help', () => {
  const commands = leaves(buildProgram());
  it('lists the commands the issues ask for', () => {
    const names = commands.map((p) => p.join(' '));
    for (const n of ['run', 'demo', 'status', 'synth', 'ingest', 'teacher serve', 'shards verify', 'report']) expect(names).toContain(n);
  });
  it.each(commands.map((p) => [p.join(' '), p]))('%s has help with an example', (_name, path) => {
    const text = helpOf(path as string[]);
    expect(text).toMatch(/Usage: univg/);
    expect(text).toMatch(/Example/);
  });
});
