/** JSON Schemas generated from the zod records: the language-neutral contract in `schemas/`. */
import { z } from 'zod';
import { PipelineConfig } from './config.js';
import { RECORDS } from './records.js';

const kebab = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** File name -> JSON Schema text (stable, ends with a newline). */
export function generateJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  const all: Record<string, z.ZodType> = { ...RECORDS, PipelineConfig };
  for (const [name, schema] of Object.entries(all)) {
    const json = z.toJSONSchema(schema, {
      // Arrow-side binary columns (HF Image bytes) have no JSON form; they are base64 in JSON exports.
      unrepresentable: 'any',
      io: 'input',
      override: (ctx) => {
        const def = (ctx.zodSchema as { _zod?: { def?: { type?: string } } })._zod?.def;
        if (def?.type === 'custom') {
          ctx.jsonSchema.type = 'string';
          ctx.jsonSchema.contentEncoding = 'base64';
        }
      },
    });
    const doc = { $id: `https://univg.dev/schemas/${kebab(name)}.schema.json`, title: name, ...json };
    out.set(`${kebab(name)}.schema.json`, JSON.stringify(doc, null, 2) + '\n');
  }
  return out;
}
