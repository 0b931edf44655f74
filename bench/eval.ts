/**
 * Evaluation throughput on one core: scoreCompletion (both scorers) + aggregate over a MIG-Bench-sized
 * bench (4,295 items, the real task mix) with UniVG-R1-shaped completions (300-900 characters of
 * reasoning, a quarter of them quoting a box in the think, 5% malformed). Scoring should never be the
 * slow part of an evaluation: target > 50k completions/s (MIG-Bench in well under a second).
 *
 *   npx tsx bench/eval.ts [rounds=20]
 */
import { loadavg } from 'node:os';
import type { GroundingSample } from '../src/schema/records.js';
import { aggregate, scoreCompletion, type ScoredSample } from '../src/train/eval/index.js';

const ROUNDS = Number(process.argv[2] ?? 20);
const TASKS: Array<[string, number]> = [
  ['diff', 528], ['view_diff', 94], ['common_object', 816], ['object_tracking', 550], ['multi_view', 288],
  ['region', 1203], ['refer_grounding', 99], ['group_grounding', 499], ['reasoning', 101], ['correspondence', 117],
];

let seed = 7;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number) => Math.floor(rnd() * n);

const samples: GroundingSample[] = [];
for (const [task, n] of TASKS) {
  for (let i = 0; i < n; i++) {
    const w = 400 + int(1200);
    const h = 300 + int(900);
    const x1 = int(w / 2);
    const y1 = int(h / 2);
    samples.push({
      id: `${task}-${i}`, source: 'migbench', task, question: 'q', context: [], targetImage: 1, difficulty: null, split: 'test', meta: {},
      images: [{ sha256: 'a'.repeat(64), path: 'a.jpg', width: 640, height: 480 }, { sha256: 'b'.repeat(64), path: 'b.jpg', width: w, height: h }],
      targetBox: [x1, y1, x1 + 20 + int(w / 2 - 20), y1 + 20 + int(h / 2 - 20)],
    });
  }
}
const WORDS = 'the object in the second image is near the left edge and partly hidden behind a red car while the first image shows'.split(' ');
const completions = samples.map((s, i) => {
  const think = Array.from({ length: 60 + int(100) }, () => WORDS[int(WORDS.length)]).join(' ');
  const b = [int(500), int(500), 500 + int(500), 500 + int(500)];
  const quote = i % 4 === 0 ? ` It could be at (${int(400)},${int(400)}),(${600 + int(400)},${600 + int(400)}).` : '';
  if (i % 20 === 0) return `<think>${think}</think> the answer is somewhere`;
  return `<think>${think}${quote}</think><answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`;
});
// Warm-up, then timed rounds.
for (let i = 0; i < 2000; i++) scoreCompletion(samples[i]!, completions[i]!, 'qwen2vl');
const t0 = performance.now();
let last: ReturnType<typeof aggregate> | null = null;
let scoreMs = 0;
for (let r = 0; r < ROUNDS; r++) {
  const a = performance.now();
  const scored: ScoredSample[] = new Array(samples.length);
  for (let i = 0; i < samples.length; i++) scored[i] = scoreCompletion(samples[i]!, completions[i]!, 'qwen2vl');
  scoreMs += performance.now() - a;
  last = aggregate(scored);
}
const ms = performance.now() - t0;
const n = ROUNDS * samples.length;
console.log(`eval scoring: ${samples.length} samples x ${ROUNDS} rounds = ${n} completions`);
console.log(`  score: ${((n / scoreMs) * 1000).toFixed(0)} completions/s (${(scoreMs / ROUNDS).toFixed(1)} ms per MIG-Bench pass)`);
console.log(`  score + aggregate: ${((n / ms) * 1000).toFixed(0)} completions/s (${(ms / ROUNDS).toFixed(1)} ms per pass)`);
console.log(`  AVG Acc@0.5 ours ${(100 * last!.average.answer['acc@0.5']).toFixed(2)} / paper scorer ${(100 * last!.average.paper['acc@0.5']).toFixed(2)}; boxes differ in ${last!.counts.boxesDiffer}`);
console.log(`  node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`);
