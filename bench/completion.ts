/**
 * Throughput of the completion module on one core: parseCompletion + formatReward + accuracyReward per
 * completion, over a realistic mix (about 85% well-formed UniVG-R1 completions with 300-1000 characters of
 * reasoning, the rest malformed the ways teachers and policies go wrong). Target: > 300k completions/s.
 *
 *   npx tsx bench/completion.ts [count=1000000]
 */
import { loadavg } from 'node:os';
import { accuracyReward, formatReward, parseCompletion } from '../src/index.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = mulberry32(42);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const SENTENCES = [
  'The question asks for the object that differs between the two pictures.',
  'Looking at image 1, there is a red bus parked next to a lamp post on the left side of the street.',
  'In the second image the same street appears, but the bus has moved towards the center.',
  'Comparing both, the region around the lamp post now contains a bicycle that was not there before.',
  'The target therefore lies in Image-2, slightly below the middle of the frame.',
  'Its left edge starts near the curb and its right edge ends before the shop window.',
  'I also check the third image to make sure the object is not duplicated there.',
  'The top of the object is roughly at a quarter of the height, the bottom close to the pavement.',
  'Other candidates, such as the parked car and the pedestrian, do not match the description.',
  'So the bounding box should tightly enclose the bicycle in the second image.',
];

function box(): [number, number, number, number] {
  const x = int(900);
  const y = int(900);
  return [x, y, x + 1 + int(999 - x), y + 1 + int(999 - y)];
}
const fmt = (b: number[]) => `(${b[0]},${b[1]}),(${b[2]},${b[3]})`;

function think(): string {
  const parts: string[] = [];
  const n = 3 + int(7);
  for (let i = 0; i < n; i++) parts.push(pick(SENTENCES));
  if (rnd() < 0.3) parts.splice(int(parts.length), 0, `A rough first guess is ${fmt(box())}.`);
  return parts.join(' ');
}

function completion(gt: number[]): string {
  const r = rnd();
  const t = think();
  const near = gt.map((v) => Math.max(0, Math.min(1000, v + int(41) - 20)));
  if (near[2]! <= near[0]!) near[2] = near[0]! + 1;
  if (near[3]! <= near[1]!) near[3] = near[1]! + 1;
  if (r < 0.85) return `<think>${t}</think>${rnd() < 0.3 ? '\n' : ''}<answer>${fmt(near)}</answer>${rnd() < 0.1 ? '\n' : ''}`;
  switch (int(6)) {
    case 0: return `${t}<answer>${fmt(near)}</answer>`; // no think tags
    case 1: return `<think>${t}</think><answer>(${near[0]}.5,${near[1]}),(${near[2]},${near[3]})</answer>`; // floats
    case 2: return `<think>${t}</think><answer>${fmt(near)}</answer> I hope this helps.`;
    case 3: return `<think>${t.slice(0, int(t.length))}`; // truncated
    case 4: return `<think>${t}</think><answer>[${near.join(', ')}]</answer>`;
    default: return `<think>${t}</think><answer>${fmt(near)}</answer><answer>${fmt(box())}</answer>`;
  }
}

const count = Number(process.argv[2] ?? 1_000_000);
const POOL = 20_000;
const texts: string[] = [];
const gts: number[][] = [];
for (let i = 0; i < POOL; i++) {
  const gt = box();
  gts.push(gt);
  texts.push(completion(gt));
}
const avgLen = texts.reduce((s, t) => s + t.length, 0) / POOL;

function run(n: number): { sink: number; ms: number; cpuMs: number } {
  let sink = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const k = i % POOL;
    const text = texts[k]!;
    const p = parseCompletion(text, 'qwen2vl');
    sink += p.problems.length + p.mentionedImages.length + formatReward(text) + accuracyReward(text, gts[k]!);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { sink, ms, cpuMs: (c.user + c.system) / 1000 };
}

run(Math.min(count, 100_000)); // warm-up (JIT)
const { sink, ms, cpuMs } = run(count);
const fmt0 = (v: number) => Math.round(v).toLocaleString('en-US');
// On a shared machine wall time includes waiting for a core; CPU time is what the work itself cost.
console.log(
  `completion: ${fmt0(count)} completions (avg ${avgLen.toFixed(0)} chars; parse + formatReward + accuracyReward) ` +
    `wall ${ms.toFixed(0)} ms -> ${fmt0(count / (ms / 1000))}/s; cpu ${cpuMs.toFixed(0)} ms -> ${fmt0(count / (cpuMs / 1000))}/s ` +
    `[loadavg ${loadavg()[0]!.toFixed(2)}; checksum ${sink.toFixed(3)}]`,
);
