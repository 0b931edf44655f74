/**
 * The module graph of src/ (static imports, type imports and re-exports; lazy `import()` too): nothing
 * imports in a circle, and the report and the run reader do not reach up into the stages (issue 14).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mjs)$/.test(n) ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      deps.push(relative(SRC, resolve(dirname(f), spec.replace(/\.js$/, '.ts'))));
    }
    g.set(relative(SRC, f), deps);
  }
  return g;
}

function cycles(g: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'active');
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 'active') out.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...g.keys()].sort()) if (!state.has(n)) visit(n);
  return out;
}

describe('the module graph', () => {
  const g = graph();

  it('has no cycle', () => {
    expect(cycles(g).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('keeps the report, the run reader and the audit app below the stages', () => {
    const bad = [...g].flatMap(([f, deps]) => (/^(report|runview|audit)\//.test(f) ? deps.filter((d) => d.startsWith('stages/') || d.startsWith('pipeline/')).map((d) => `${f} -> ${d}`) : []));
    expect(bad).toEqual([]);
  });

  it('keeps train/ off report/ and stages/ (what both need lives below them)', () => {
    const bad = [...g].flatMap(([f, deps]) => (f.startsWith('train/') ? deps.filter((d) => d.startsWith('stages/') || d.startsWith('report/') || d.startsWith('pipeline/')).map((d) => `${f} -> ${d}`) : []));
    expect(bad).toEqual([]);
  });
});

describe('the trainer', () => {
  // GPU backends cannot read a tensor synchronously, and every readback stalls them (issue 12): the
  // trainer reads through PendingStats and sampled tokens asynchronously, never with these.
  it('never reads a tensor synchronously (dataSync, arraySync, readSync, bufferSync)', () => {
    const bad = files(join(SRC, 'train')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\.(dataSync|arraySync|bufferSync)\(|\.readSync\(\s*\)/.test(line.replace(/\/\/.*$/, '')) ? [`${relative(SRC, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(bad).toEqual([]);
  });
});
