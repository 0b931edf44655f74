/**
 * Where a pipeline file may make univg write. A pipeline file is often someone else's (shared, copied
 * from an example, generated): the directories it names for writing (the run directory, the response
 * cache) must stay under the working directory, as relative paths without `..`. A directory elsewhere
 * is the user's own decision and is given on the command line (`--run-dir`, `--cache-dir`), never taken
 * from a file. The pipeline's `name` (which names runs/<name>) is checked by its schema.
 *
 * Paths the pipeline only reads (source.input, source.imageRoot, train.from, ...) may be anywhere:
 * reading a corpus from /data is the normal case, and image paths inside a source are confined to its
 * image root by ingest.
 */
import { isAbsolute, posix, win32 } from 'node:path';
import { LineCounter, parseDocument, isMap, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import type { PipelineConfig } from '../schema/config.js';

/** Config fields that name a directory univg writes into, and the flag that overrides each. */
export const WRITE_PATHS = [
  { field: ['runDir'], flag: '--run-dir' },
  { field: ['teacher', 'cacheDir'], flag: '--cache-dir' },
  { field: ['train', 'score', 'endpoint', 'cacheDir'], flag: '--cache-dir' },
] as const;

/** Why `p` may not come from a pipeline file as a place to write, or null when it may. */
export function unsafeWritePath(p: string): string | null {
  if (p.includes('\0')) return 'contains a NUL byte';
  if (isAbsolute(p) || posix.isAbsolute(p) || win32.isAbsolute(p)) return 'is absolute';
  if (p.split(/[\\/]+/).includes('..')) return "contains '..'";
  return null;
}

function get(obj: unknown, path: readonly string[]): unknown {
  let o = obj;
  for (const k of path) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return o;
}

function lineOf(text: string, path: readonly string[]): number | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  let node: Node | null = doc.contents as Node | null;
  for (const key of path) {
    if (!isMap(node)) return undefined;
    const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
    if (!pair) return undefined;
    node = (pair.value as Node | null) ?? (pair.key as Node);
  }
  return node?.range ? lc.linePos(node.range[0]).line : undefined;
}

/**
 * Refuse (ConfigError, exit 2) a pipeline file that would write outside the working directory. Fields
 * the command line overrides (`overridden` flags) are not used, so they are not checked.
 */
export function checkWritePaths(config: PipelineConfig, text: string, file: string, overridden: ReadonlySet<string> = new Set()): void {
  for (const { field, flag } of WRITE_PATHS) {
    const v = get(config, field);
    if (typeof v !== 'string' || overridden.has(flag)) continue;
    const why = unsafeWritePath(v);
    if (why === null) continue;
    const key = field.join('.');
    const line = lineOf(text, field);
    throw new ConfigError(
      `${key} ${JSON.stringify(v)} ${why}: a pipeline file may only name directories under the working directory to write into. Give a directory elsewhere on the command line with ${flag}`,
      { file, field: key, ...(line !== undefined ? { line } : {}) },
    );
  }
}
