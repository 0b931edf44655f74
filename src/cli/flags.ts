/**
 * Command-line options derived from a zod object: the flag name (kebab-case of the key), its help (the
 * field's `.describe()`), the default shown in help (the schema's), whether it is required, and the
 * parsing of the strings commander hands back (numbers, lists, booleans), validated by the same schema.
 * The schema is the only definition: a command that takes its options from here cannot show one default
 * and apply another, and every command writes and checks its flags the same way.
 *
 * The convention every command follows (tests/cli/conventions.test.ts checks it on every command's help):
 *   --kebab-case long flags only, no short aliases;
 *   a value placeholder in angle brackets: <n> integer, <x> number, <dir>, <file>, <url>, <name>, <kind>;
 *   a list option is given once per value (`--data a --data b`), names may also be comma-separated,
 *     and its help ends in "(repeatable)";
 *   defaults are printed as `(default: 8)`, required options as `(required)`, choices as `(choices: a, b)`;
 *   a bad value or missing options are one `univg: usage: ...` line naming every problem, exit code 2.
 */
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import { describeIssues, expectation, jsonSchemaOf, kindOf, propAt, type JsonProp, type ValueKind } from '../schema/options.js';
import { usage } from './action.js';

/** How one flag is written and read; what tests and help show. */
export interface FlagSpec {
  /** Dotted path in the schema (`model.dModel` for a flattened nested field). */
  path: string[];
  /** `--d-model` */
  flag: string;
  /** `<n>`, or '' for a switch. */
  placeholder: string;
  kind: ValueKind;
  choices?: readonly string[];
  required: boolean;
  /** The default as printed, or undefined. */
  defaultText?: string;
  /** Phrase for error messages: "an integer from 0 to 100". */
  expected: string;
  /** Commander's attribute name of the flag. */
  attribute: string;
}

export interface FlagOptions {
  /** Nested objects whose fields become flags of their own (`model` -> `--d-model`, `--n-layers`, ...). */
  flatten?: readonly string[];
  /** Placeholder per key when the type does not say it (`<dir>`, `<file>`, `<url>`, ...). */
  placeholders?: Readonly<Record<string, string>>;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^-/, '');
const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** The placeholder a key's name suggests, when its type does not. */
function guessPlaceholder(key: string, kind: FlagSpec['kind'], item?: JsonProp): string {
  if (kind === 'integer') return '<n>';
  if (kind === 'number') return '<x>';
  if (kind === 'enum') return '<kind>';
  const k = key.toLowerCase();
  if (kind === 'list' && item?.enum) return '<name>';
  if (/url$/.test(k)) return '<url>';
  if (/(file|input|bench|predictions)$/.test(k)) return '<file>';
  if (/(dir|root|out|data|init|checkpoint)$/.test(k)) return '<dir>';
  return '<name>';
}

function showValue(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) ? v.map(showValue).join(',') : JSON.stringify(v);
}

/** The flags of a zod object, in its key order. */
export function flagSpecs(schema: z.ZodObject, opts: FlagOptions = {}): FlagSpec[] {
  const json = jsonSchemaOf(schema);
  const out: FlagSpec[] = [];
  const walk = (node: JsonProp, prefix: string[]) => {
    for (const [key, p] of Object.entries(node.properties ?? {})) {
      const path = [...prefix, key];
      const dotted = path.join('.');
      if (opts.flatten?.includes(dotted)) {
        walk(p, path);
        continue;
      }
      const kind = kindOf(p);
      if (!kind) throw new Error(`flags: ${dotted} has a type the command line cannot give; flatten it or leave it out of the schema`);
      if (!p.description) throw new Error(`flags: ${dotted} has no .describe(): its help would be empty`);
      const required = (node.required ?? []).includes(key) && p.default === undefined && kind !== 'boolean';
      const negated = kind === 'boolean' && p.default === true;
      const flag = negated ? `no-${kebab(key)}` : kebab(key);
      const placeholder = kind === 'boolean' ? '' : (opts.placeholders?.[dotted] ?? opts.placeholders?.[key] ?? guessPlaceholder(key, kind, p.items));
      out.push({
        path,
        flag: `--${flag}`,
        placeholder,
        kind,
        ...(kind === 'enum' ? { choices: (p.enum ?? []).map(String) } : kind === 'list' && p.items?.enum ? { choices: p.items.enum.map(String) } : {}),
        required,
        ...(p.default !== undefined && !(kind === 'boolean' && p.default === false) ? { defaultText: kind === 'boolean' ? 'on' : showValue(p.default) } : {}),
        expected: expectation(p),
        attribute: camel(negated ? kebab(key) : flag),
      });
    }
  };
  walk(json, []);
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.flag)) throw new Error(`flags: two fields map to ${s.flag}`);
    seen.add(s.flag);
  }
  return out;
}

/** The help line of a flag: the schema's description, then (choices), (default) or (required), (repeatable). */
export function helpOf(spec: FlagSpec, description: string): string {
  const parts = [description];
  if (spec.choices && spec.kind === 'enum') parts.push(`(choices: ${spec.choices.join(', ')})`);
  if (spec.choices && spec.kind === 'list') parts.push(`(choices: ${spec.choices.join(', ')})`);
  if (spec.required) parts.push('(required)');
  else if (spec.defaultText !== undefined) parts.push(`(default: ${spec.defaultText})`);
  if (spec.kind === 'list') parts.push('(repeatable)');
  return parts.join(' ');
}

const append = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Flags of a schema, ready to add to commands and to read back. */
export interface SchemaFlags<S extends z.ZodObject> {
  schema: S;
  specs: FlagSpec[];
  /** Add every flag to `cmd` (after the command's own options, in schema order). */
  addTo(cmd: Command): Command;
  /**
   * Commander's values -> the schema's input (strings turned into numbers, lists split), then validated:
   * every missing required flag and every bad value reported at once as one usage error (exit 2).
   */
  parse(values: Record<string, unknown>, extra?: Record<string, unknown>): z.output<S>;
  /** Whether the user gave this field on the command line. */
  given(values: Record<string, unknown>, key: string): boolean;
  /** The flag of a field, for messages: `--max-tokens`. */
  flagOf(key: string): string;
}

export function schemaFlags<S extends z.ZodObject>(schema: S, opts: FlagOptions = {}): SchemaFlags<S> {
  const specs = flagSpecs(schema, opts);
  const json = jsonSchemaOf(schema);
  const descriptionOf = (path: string[]) => propAt(json, path)?.description ?? '';
  const byPath = new Map(specs.map((s) => [s.path.join('.'), s]));
  const specOf = (key: string) => {
    const s = byPath.get(key) ?? specs.find((x) => x.path[x.path.length - 1] === key);
    if (!s) throw new Error(`flags: no flag for ${key}`);
    return s;
  };

  const input = (values: Record<string, unknown>) => {
    const problems: string[] = [];
    const missing: FlagSpec[] = [];
    const obj: Record<string, unknown> = {};
    // The same shape with the strings as typed, for messages ("got \"abc\"").
    const raw: Record<string, unknown> = {};
    const put = (into: Record<string, unknown>, path: string[], v: unknown) => {
      let at = into;
      for (const k of path.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
      at[path[path.length - 1]!] = v;
    };
    for (const s of specs) {
      const given = values[s.attribute];
      if (given === undefined) {
        if (s.required) missing.push(s);
        continue;
      }
      let v: unknown = given;
      const bad = () => problems.push(`${s.flag} must be ${s.expected}, got ${JSON.stringify(given)}`);
      if (s.kind === 'integer' || s.kind === 'number') {
        const n = typeof given === 'string' && given.trim() !== '' ? Number(given) : Number.NaN;
        if (!Number.isFinite(n) || (s.kind === 'integer' && !Number.isInteger(n))) {
          bad();
          continue;
        }
        v = n;
      } else if (s.kind === 'list') {
        // Names (never paths, which may hold a comma) may also be given comma-separated: --stages a,b.
        const names = s.choices !== undefined || s.placeholder === '<name>';
        v = (given as string[]).flatMap((x) => (names ? x.split(',') : [x])).map((x) => x.trim()).filter((x) => x !== '');
      }
      put(obj, s.path, v);
      put(raw, s.path, s.kind === 'list' ? v : given);
    }
    if (missing.length > 0) problems.unshift(`missing required option${missing.length > 1 ? 's' : ''} ${missing.map((s) => `${s.flag} ${s.placeholder}`.trim()).join(', ')}`);
    return { input: obj, raw, problems };
  };

  return {
    schema,
    specs,
    addTo(cmd) {
      // Required flags first: they are what a reader of the help needs before anything else.
      for (const s of [...specs.filter((x) => x.required), ...specs.filter((x) => !x.required)]) {
        const o = new Option(`${s.flag}${s.placeholder ? ` ${s.placeholder}` : ''}`, helpOf(s, descriptionOf(s.path)));
        if (s.kind === 'list') o.argParser(append);
        cmd.addOption(o);
      }
      return cmd;
    },
    parse(values, extra = {}) {
      const { input: obj, raw, problems } = input(values);
      const r = schema.safeParse({ ...obj, ...extra });
      if (!r.success) {
        // A flag already reported (missing, or not a number) is not reported twice.
        const issues = r.error.issues.filter((i) => {
          const spec = byPath.get(i.path.filter((p) => typeof p === 'string').join('.'));
          return !spec || (values[spec.attribute] !== undefined && !problems.some((p) => p.startsWith(`${spec.flag} `)));
        });
        const label = (path: PropertyKey[]) => byPath.get(path.filter((p) => typeof p === 'string').join('.'))?.flag ?? path.map(String).join('.');
        for (const line of describeIssues(schema, issues, { ...raw, ...extra }, label)) if (!problems.includes(line)) problems.push(line);
      }
      if (problems.length > 0) throw usage(problems.join('; '));
      return r.data as z.output<S>;
    },
    given(values, key) {
      const s = specOf(key);
      const v = values[s.attribute];
      // commander sets a --no-x switch's value to true when it is absent.
      return v !== undefined && !(s.flag.startsWith('--no-') && v === true);
    },
    flagOf: (key) => specOf(key).flag,
  };
}
