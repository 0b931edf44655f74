/**
 * One option style across every command (src/cli/flags.ts states it). The test walks the whole command
 * tree as `univg --help` shows it, so a new command or flag that breaks the convention fails here:
 *   long kebab-case flags, no short aliases; one <placeholder> per value, no variadic values;
 *   defaults only as "(default: X)" (unquoted), required options marked "(required)";
 *   lowercase command descriptions; usage mistakes are one `univg: usage:` line with exit code 2,
 *   every missing required option named at once, every bad number named with its flag.
 */
import { Command, CommanderError, type Option } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

/** Every leaf command, as its argv path. */
function leaves(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (subs.length === 0) return [{ path, cmd }];
  return subs.flatMap((c) => leaves(c, [...path, c.name()]));
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/** Run argv in-process; what the command printed on stderr and the exit code it set. */
async function runInProcess(argv: string[]): Promise<{ code: number; stderr: string }> {
  const program = buildProgram();
  let stderr = '';
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  const before = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    for (const c of allCommands(program)) c.configureOutput({ writeOut: () => undefined, writeErr: (s) => void (stderr += s) });
    await program.parseAsync(['node', 'univg', ...argv]);
    code = Number(process.exitCode ?? 0);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    code = err.exitCode === 0 ? 0 : 2;
  } finally {
    write.mockRestore();
    process.exitCode = before;
  }
  return { code, stderr };
}

const commands = leaves(buildProgram());
const userOptions = (c: Command) => c.options.filter((o) => o.long !== '--help' && o.long !== '--version');
/** Dummy values for a command's positional arguments, so option checks are reached. */
const positionals = (c: Command) => c.registeredArguments.map(() => 'no-such-path');

afterEach(() => vi.restoreAllMocks());

describe('every command follows one option convention', () => {
  it('the tree has the commands the issues name', () => {
    const names = commands.map((c) => c.path.join(' '));
    for (const n of ['run', 'demo', 'status', 'synth', 'ingest', 'teacher serve', 'shards verify', 'shards inspect', 'report', 'eval', 'train sft', 'train rl', 'score']) expect(names).toContain(n);
  });

  it.each(commands.map((c) => [c.path.join(' '), c.cmd] as const))('%s: flags, placeholders, defaults, required marks', (_name, cmd) => {
    for (const o of userOptions(cmd)) {
      const where = `${_name} ${o.flags}`;
      expect(o.short, `${where}: long flags only`).toBeUndefined();
      expect(o.long, where).toMatch(/^--[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      expect(o.variadic, `${where}: a list is given once per value, not variadic`).toBe(false);
      if (o.required || o.optional) expect(o.flags, `${where}: one <placeholder>`).toMatch(/^--[a-z0-9-]+ <[a-z][a-zA-Z0-9=/._-]*>$/);
      else expect(o.flags, where).toMatch(/^--[a-z0-9-]+$/);
      // Defaults are printed by the option helper only, as "(default: X)", never quoted, never twice.
      expect(o.defaultValue === undefined || o.negate, `${where}: no commander default (the schema's is shown)`).toBe(true);
      const d = o.description;
      expect(d.match(/default/gi)?.length ?? 0, `${where}: "${d}"`).toBe(d.match(/\(default: [^"(][^)]*\)/g)?.length ?? 0);
      expect(d.match(/\(default: /g)?.length ?? 0, where).toBeLessThanOrEqual(1);
      expect(d, where).not.toMatch(/\(default: "/);
      if (d.includes('(required)')) expect(d, `${where}: required has no default`).not.toMatch(/\(default: /);
      expect(d.length, `${where}: has a description`).toBeGreaterThan(5);
    }
  });

  it('command descriptions start in lowercase and end without a full stop', () => {
    for (const c of allCommands(buildProgram()).slice(1)) {
      // "read a source dataset", not "Read a source dataset" (a name such as MIG-Bench may lead).
      expect(c.description(), c.name()).toMatch(/^[a-zA-Z0-9]/);
      expect(c.description(), c.name()).not.toMatch(/^[A-Z][a-z]/);
      expect(c.description(), c.name()).not.toMatch(/\.$/);
    }
  });

  it.each(commands.map((c) => [c.path.join(' '), c] as const))('%s: an unknown option is one usage line, exit 2', async (_name, c) => {
    const r = await runInProcess([...c.path, ...positionals(c.cmd), '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^univg: usage: unknown option '--no-such-flag' \\(see univg ${c.path.join(' ')} --help\\)`));
  });

  const withRequired = commands.filter((c) => userOptions(c.cmd).some((o) => o.description.includes('(required)')));
  it('some commands have required options', () => expect(withRequired.map((c) => c.path.join(' '))).toEqual(expect.arrayContaining(['ingest', 'train sft', 'train rl', 'score', 'eval', 'synth'])));

  it.each(withRequired.map((c) => [c.path.join(' '), c] as const))('%s: every missing required option is named at once, exit 2', async (_name, c) => {
    const required = userOptions(c.cmd).filter((o) => o.description.includes('(required)'));
    const r = await runInProcess([...c.path, ...positionals(c.cmd)]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^univg: usage: missing required options? /);
    for (const o of required) expect(r.stderr).toContain(o.flags);
  });

  it('out-of-range and non-numeric values are the same kind of mistake (report --examples -1 / abc)', async () => {
    for (const v of ['-1', 'abc', '101', '2.5']) {
      const r = await runInProcess(['report', 'no-such-path', '--examples', v]);
      expect(r.code, v).toBe(2);
      expect(r.stderr, v).toBe(`univg: usage: --examples must be an integer from 0 to 100, got "${v}"\n`);
    }
  });

  const numeric = commands.flatMap((c) => userOptions(c.cmd).filter((o) => / <(n|x)>$/.test(o.flags)).map((o) => [`${c.path.join(' ')} ${o.long}`, c, o] as const));
  it('numeric flags exist in most commands', () => expect(numeric.length).toBeGreaterThan(40));
  it.each(numeric)('%s abc: a usage error naming the flag, exit 2', async (_name, c, o: Option) => {
    const r = await runInProcess([...c.path, ...positionals(c.cmd), o.long!, 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^univg: usage: .*${o.long} must be (an integer|a number|a positive integer)[^,]*, got "abc"`));
  });
});
