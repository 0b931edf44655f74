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
