/**
 * The first N rows of a shard directory into a new one (one part file), for the GPU kit's corpus:
 * `npx tsx bench/gpu/subset.ts runs/demo/corpus/sft .device-kit/corpus/sft 64`.
 */
import { readManifest, readRows, writeShards } from '../../src/store/index.js';
import type { RecordOf } from '../../src/schema/arrow.js';
import type { RecordKind } from '../../src/schema/records.js';

const [from, to, n] = process.argv.slice(2);
if (!from || !to) throw new Error('usage: subset.ts FROM_DIR TO_DIR [N]');
const manifest = await readManifest(from);
if (!manifest) throw new Error(`${from} has no _manifest.json`);
const kind = manifest.kind as RecordKind;
const limit = Number(n ?? 64);
async function* first(): AsyncGenerator<RecordOf<typeof kind>> {
  let i = 0;
  for await (const row of readRows(kind, from!)) {
    if (i++ >= limit) return;
    yield row;
  }
}
const m = await writeShards(kind, first(), { dir: to, count: 1 });
console.log(`${to}: ${m.rows} ${kind} rows`);
