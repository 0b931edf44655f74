/**
 * Loading a pipeline YAML: parse, validate against the zod config (the same one the JSON Schema in
 * `schemas/` is generated from), and turn the first problem into an error that names the file, the line
 * and the key, and says what was expected.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { PipelineConfig } from '../schema/config.js';

/** The keys the schema allows at a path of the document (the union member the raw value picks), or null. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[], raw: unknown): string[] | null {
  let node = schema as unknown as { def: Record<string, unknown>; shape?: Record<string, z.ZodType> };
  for (let depth = 0; depth < 64; depth++) {
    const def = node.def;
    const type = def.type as string;
    if (['optional', 'default', 'nullable', 'readonly', 'catch', 'prefault', 'nonoptional'].includes(type)) node = def.innerType as typeof node;
    else if (type === 'pipe') node = def.in as typeof node;
    else if (type === 'union') {
      const options = def.options as Array<typeof node>;
      const key = def.discriminator as string | undefined;
      const value = key !== undefined && raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
      const pick = options.find((o) => {
        const lit = o.shape?.[key ?? '']?.def as { values?: unknown[]; entries?: Record<string, unknown> } | undefined;
        return value !== undefined && (lit?.values?.includes(value) || Object.values(lit?.entries ?? {}).includes(value));
      });
      if (pick) node = pick;
      else {
        const all = options.map((o) => keysAt(o as unknown as z.ZodType, path, raw));
        return all.some((k) => k) ? [...new Set(all.flatMap((k) => k ?? []))] : null;
      }
    } else if (type === 'object') {
      if (path.length === 0) return Object.keys(node.shape ?? {});
      const next = node.shape?.[String(path[0])];
      if (!next) return null;
      raw = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[String(path[0])] : undefined;
      path = path.slice(1);
      node = next as unknown as typeof node;
    } else if (type === 'array') {
      if (path.length === 0) return null;
      raw = Array.isArray(raw) ? raw[Number(path[0])] : undefined;
      path = path.slice(1);
      node = def.element as typeof node;
    } else return null;
  }
  return null;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** The valid key a mistyped one most likely meant (a typo, another case or snake_case), or null. */
export function nearestKey(key: string, valid: readonly string[]): string | null {
  const norm = (k: string) => k.toLowerCase().replace(/[-_\s]/g, '');
  const exact = valid.find((v) => norm(v) === norm(key));
  if (exact) return exact;
  let best: string | null = null;
  let bestD = Infinity;
  for (const v of valid) {
    const dist = editDistance(norm(key), norm(v));
    if (dist < bestD) [best, bestD] = [v, dist];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

/** Find the YAML node at a zod issue path (falling back to the deepest existing parent). */
function nodeAt(root: Node | null, path: readonly PropertyKey[]): Node | null {
  let node: Node | null = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) return node;
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return node;
      node = item;
    } else return node;
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_union' && 'discriminator' in issue) return issue.message;
  return issue.message;
}

/** The key node of `key` in the map at `path` (a key's own line, not its value's). */
function keyNode(root: Node | null, path: readonly PropertyKey[], key: string): Node | null {
  const map = nodeAt(root, path);
  if (!isMap(map)) return null;
  return (map.items.find((p) => (p.key as { value?: unknown } | null)?.value === key)?.key as Node | null) ?? null;
}

/**
 * Unknown keys: each on its own line, with the valid key it most likely meant. The error's line is the
 * first one's; the rest are listed with theirs.
 */
function unknownKeys(issue: z.core.$ZodIssueUnrecognizedKeys, root: Node | null, raw: unknown, lines: LineCounter, file: string): ConfigError {
  const valid = keysAt(PipelineConfig, issue.path, raw) ?? [];
  const where = issue.path.map(String).join('.');
  const items = issue.keys.map((k) => {
    const node = keyNode(root, issue.path, k);
    const pos = node?.range ? lines.linePos(node.range[0]) : { line: 1, col: 1 };
    const near = nearestKey(k, valid);
    return { key: k, pos, text: `${JSON.stringify(k)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}` };
  });
  const first = items[0]!;
  const field = where ? `${where}.${first.key}` : first.key;
  const more = items.slice(1).map((i) => `${i.text} on line ${i.pos.line}`);
  const known = valid.length > 0 && !items.some((i) => i.text.includes('did you mean')) ? `; valid keys${where ? ` of ${where}` : ''}: ${valid.join(', ')}` : '';
  return new ConfigError(`unknown key ${first.text}${where ? ` in ${where}` : ''}${more.length ? `; also unknown: ${more.join(', ')}` : ''}${known}`, { file, line: first.pos.line, column: first.pos.col, field });
}

export interface LoadedConfig {
  config: PipelineConfig;
  /** The raw YAML text (kept in run.json as the config as run). */
  text: string;
  file: string;
}

export function parsePipelineConfig(text: string, file: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    throw new ConfigError(`invalid YAML: ${e.message.split('\n')[0]}`, { file, line: pos.line, column: pos.col });
  }
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('a pipeline file must be a YAML mapping', { file, line: 1 });
  const parsed = PipelineConfig.safeParse(raw);
  if (!parsed.success) {
    const unknown = parsed.error.issues.find((i) => i.code === 'unrecognized_keys');
    if (unknown) throw unknownKeys(unknown as z.core.$ZodIssueUnrecognizedKeys, doc.contents as Node | null, raw, lineCounter, file);
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const node = nodeAt(doc.contents as Node | null, path);
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
    const key = path.map(String).join('.') || '(top level)';
    throw new ConfigError(`${key}: ${describeIssue(issue)}`, { file, line: pos.line, column: pos.col, field: key });
  }
  return { config: parsed.data, text, file };
}

export function loadPipelineConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? 'pipeline file not found' : `cannot read pipeline file (${code ?? 'error'})`, { file }, { cause: err });
  }
  return parsePipelineConfig(text, file);
}
