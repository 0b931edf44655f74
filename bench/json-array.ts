/**
 * Streaming JSON array reader and ingest throughput.
 *
 *   npx tsx bench/json-array.ts [--mb 60]
 *   STREAM_JSON_DIR=/path/with/node_modules npx tsx bench/json-array.ts   # also time stream-json
 *
 * Generates an MGrounding-style file of about --mb megabytes in a temp dir, then times:
 *   1. readJsonArray (this repo): bytes/s, records/s, largest reader buffer, peak RSS growth
 *   2. stream-json StreamArray (optional, not a dependency: point STREAM_JSON_DIR at an install)
 *   3. readFile + JSON.parse of the whole file (the non-streaming ceiling, and its memory)
 *   4. ingestMGrounding end to end on the same records (images cached: measures parsing, not disk)
 * Each reader runs in a fresh child process, so one's heap does not inflate another's RSS.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestMGrounding, newReaderStats, readJsonArray } from '../src/sources/index.js';

const FIX_ROOT = join(import.meta.dirname, '..', 'datasets', 'fixtures', 'mgrounding');

function makeFile(path: string, targetBytes: number): number {
  const fd = openSync(path, 'w');
  const imgs = ['sa_1', 'sa_2', 'sa_3', 'sa_4'].map((x) => `./MGrounding-630k/Group_Grounding/SA-1B/${x}.png`);
  let bytes = 0;
  let n = 0;
  writeSync(fd, '[');
  while (bytes < targetBytes) {
    const rec = {
      id: `bench_${n}`,
      images: imgs,
      conversations: [
        { from: 'human', value: `<image>\n<image>\n<image>\n<image>\nGive the bounding box of the region this sentence refers to: <|object_ref_start|>object number ${n}, described at some length \\"quoted\\"<|object_ref_end|>.` },
        { from: 'gpt', value: `It's in the ${['first', 'second', 'third', 'fourth'][n % 4]} image. <|box_start|>(${n % 500},58),(${(n % 500) + 300},999)<|box_end|>` },
        { from: 'human', value: 'Recognize the target region that this sentence refers to: <|object_ref_start|>a woman wearing an orange shirt<|object_ref_end|>.' },
        { from: 'gpt', value: "It's in the first image. <|box_start|>(408,656),(578,997)<|box_end|>" },
      ],
      type: 'gg_train',
    };
    const text = (n ? ',\n' : '\n') + JSON.stringify(rec, null, 4);
    writeSync(fd, text);
    bytes += Buffer.byteLength(text);
    n++;
  }
  writeSync(fd, '\n]\n');
  closeSync(fd);
  return n;
}

async function measure(mode: string, file: string): Promise<Record<string, number>> {
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t0 = performance.now();
  let records = 0;
  const extra: Record<string, number> = {};
  if (mode === 'readJsonArray') {
    const stats = newReaderStats();
    for await (const it of readJsonArray(file, { stats })) if (it.ok) records++;
    extra.maxBufferedKiB = Math.round(stats.maxBufferedBytes / 1024);
  } else if (mode === 'stream-json') {
    const req = createRequire(join(process.env.STREAM_JSON_DIR!, 'node_modules', 'x.js'));
    const { parser } = req('stream-json');
    const { streamArray } = req('stream-json/streamers/StreamArray');
    const { createReadStream } = await import('node:fs');
    const pipeline = createReadStream(file).pipe(parser()).pipe(streamArray());
    for await (const _ of pipeline) records++;
  } else if (mode === 'JSON.parse') {
    records = (JSON.parse(readFileSync(file, 'utf8')) as unknown[]).length;
  } else if (mode === 'ingestMGrounding') {
    for await (const e of ingestMGrounding({ input: file, imageRoot: FIX_ROOT })) if (e.kind === 'sample') records++;
  }
  const secs = (performance.now() - t0) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { secs, records, MBps: statSync(file).size / 1e6 / secs, recordsPerSec: records / secs, rssGrowthMB: (peak - rss0) / 1e6, ...extra };
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const r = await measure(args[1]!, args[2]!);
  process.stdout.write(JSON.stringify(r));
} else {
  const mb = Number(args[args.indexOf('--mb') + 1] ?? 60) || 60;
  const dir = mkdtempSync(join(tmpdir(), 'univg-bench-'));
  const file = join(dir, 'mg.json');
  const n = makeFile(file, mb * 1e6);
  console.log(`file: ${(statSync(file).size / 1e6).toFixed(1)} MB, ${n} records (4 turns, 2 grounded each)`);
  const modes = ['readJsonArray', ...(process.env.STREAM_JSON_DIR ? ['stream-json'] : []), 'JSON.parse', 'ingestMGrounding'];
  for (const mode of modes) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', mode, file], { encoding: 'utf8' });
    const r = JSON.parse(out) as Record<string, number>;
    const parts = [`${r.secs!.toFixed(2)} s`, `${r.MBps!.toFixed(0)} MB/s`, `${Math.round(r.recordsPerSec!)} ${mode === 'ingestMGrounding' ? 'samples' : 'records'}/s`, `peak RSS +${r.rssGrowthMB!.toFixed(0)} MB`];
    if (r.maxBufferedKiB !== undefined) parts.push(`max reader buffer ${r.maxBufferedKiB} KiB`);
    console.log(`${mode.padEnd(17)} ${parts.join(', ')}`);
  }
}
