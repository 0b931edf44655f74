// Writes schemas/*.schema.json from the zod records (`npm run schemas`).
import { mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateJsonSchemas } from '../src/schema/json-schema.js';

const dir = join(import.meta.dirname, '..', 'schemas');
mkdirSync(dir, { recursive: true });
const schemas = generateJsonSchemas();
for (const f of readdirSync(dir)) if (f.endsWith('.schema.json') && !schemas.has(f)) rmSync(join(dir, f));
for (const [name, text] of schemas) {
  writeFileSync(join(dir, name + '.tmp'), text);
  renameSync(join(dir, name + '.tmp'), join(dir, name));
}
console.log(`wrote ${schemas.size} schemas to ${dir}`);
