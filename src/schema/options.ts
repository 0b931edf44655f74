/**
 * Reading options through their zod schema, for every caller (the trainers, the CLI's flags): what a
 * field expects, said in words from the schema itself ("an integer from 0 to 100", "one of exp, power"),
 * and one error that names every bad field at once.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** A JSON Schema node as zod writes it (only the keywords used here). */
export interface JsonProp {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonProp;
  properties?: Record<string, JsonProp>;
  required?: string[];
}

export type ValueKind = 'integer' | 'number' | 'string' | 'enum' | 'boolean' | 'list';

/** The input-side JSON Schema of an object schema (defaults and descriptions included). */
export function jsonSchemaOf(schema: z.ZodType): JsonProp {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonProp;
}

/** The JSON Schema node at a path of an object schema, or undefined. */
export function propAt(json: JsonProp, path: readonly PropertyKey[]): JsonProp | undefined {
  let node: JsonProp | undefined = json;
  for (const k of path) node = typeof k === 'number' ? node?.items : node?.properties?.[String(k)];
  return node;
}

export function kindOf(p: JsonProp): ValueKind | null {
  if (p.enum) return 'enum';
  const t = Array.isArray(p.type) ? p.type.find((x) => x !== 'null') : p.type;
  if (t === 'integer' || t === 'number' || t === 'string' || t === 'boolean') return t;
  if (t === 'array' && (p.items?.type === 'string' || p.items?.enum)) return 'list';
  return null;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** "an integer from 1 to 100", "a number > 0", "one of exp, power": what a value must be. */
export function expectation(p: JsonProp): string {
  const kind = kindOf(p);
  if (kind === 'enum') return `one of ${(p.enum ?? []).map(String).join(', ')}`;
  if (kind === 'list') return p.items?.enum ? `one or more of ${p.items.enum.map(String).join(', ')}` : 'one or more values';
  if (kind === 'string') return 'a non-empty value';
  if (kind === 'boolean') return 'true or false';
  if (kind !== 'integer' && kind !== 'number') return 'a valid value';
  const noun = kind === 'integer' ? 'an integer' : 'a number';
  // z.number().int() writes the safe-integer range as bounds: that is not a range anyone chose.
  let lo = p.minimum !== undefined && p.minimum <= -MAX_SAFE ? p.exclusiveMinimum : (p.exclusiveMinimum ?? p.minimum);
  let hi = p.maximum !== undefined && p.maximum >= MAX_SAFE ? p.exclusiveMaximum : (p.exclusiveMaximum ?? p.maximum);
  let loEx = p.exclusiveMinimum !== undefined;
  let hiEx = p.exclusiveMaximum !== undefined;
  // An integer's open bound is a closed one: "> 0" is "from 1".
  if (kind === 'integer' && loEx && lo !== undefined) [lo, loEx] = [lo + 1, false];
  if (kind === 'integer' && hiEx && hi !== undefined) [hi, hiEx] = [hi - 1, false];
  if (lo !== undefined && hi !== undefined) return !loEx && !hiEx ? `${noun} from ${lo} to ${hi}` : `${noun} ${loEx ? '>' : '>='} ${lo} and ${hiEx ? '<' : '<='} ${hi}`;
  if (lo !== undefined) return kind === 'integer' && lo === 1 ? 'a positive integer' : `${noun} ${loEx ? '>' : '>='} ${lo}`;
  if (hi !== undefined) return `${noun} ${hiEx ? '<' : '<='} ${hi}`;
  return noun;
}

/** The value at a path of an input object (for "got ..."). */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/**
 * One line per problem of a failed parse, each naming the field in the caller's words (`label`: the key
 * path for a library call, `--flag` for the command line) with what it expects and what it got.
 */
export function describeIssues(schema: z.ZodType, issues: readonly z.core.$ZodIssue[], input: unknown, label: (path: PropertyKey[]) => string = (p) => p.map(String).join('.')): string[] {
  const json = jsonSchemaOf(schema);
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...issue.path];
    const name = label(path);
    const got = valueAt(input, path);
    let line: string;
    if (issue.code === 'unrecognized_keys') line = `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => label([...path, k])).join(', ')}`;
    else if (issue.code === 'custom') line = `${name}: ${issue.message}`;
    else if (issue.code === 'invalid_format') line = `${name} ${issue.message}, got ${JSON.stringify(got)}`;
    else if (got === undefined && path.length > 0) line = `missing ${name}`;
    else {
      // A bad item of a list names the list's expectation and the item.
      const prop = propAt(json, typeof path[path.length - 1] === 'number' ? path.slice(0, -1) : path);
      line = prop ? `${typeof path[path.length - 1] === 'number' ? label(path.slice(0, -1)) : name} must be ${expectation(prop)}, got ${JSON.stringify(got)}` : `${name || 'options'}: ${issue.message}`;
    }
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** Parse options with their schema, or a ConfigError that names every bad field (exit code 2). */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what = 'options'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = describeIssues(schema, r.error.issues, input);
  const first = r.error.issues[0]!.path.map(String).join('.');
  throw new ConfigError(`${what}: ${lines.join('; ')}`, first ? { field: first } : {});
}
