/**
 * Issue 11: how often each verification check rejects a correct chain, per task. The synthetic suite
 * (mixed difficulty) goes through the real pipeline stages ingest and generate, the teacher being
 * the simulated one over HTTP through the real client with the demo's faults on; every candidate is then
 * labelled correct or not from the scene graphs (src/stages/verify-truth.ts) and verified again.
 *
 *   npx tsx bench/verify-false-rejections.ts [--per-task 300] [--mode hinted|blind|both] [--temperature 0.8]
 *     [--convention qwen2vl|qwen25vl|norm] [--keep DIR]
 *
 * Prints, per mode, a markdown table (check x task: share of the task's correct chains the check rejects)
 * and a second one that breaks every correct chain on purpose, one defect at a time (a decoding loop, a
 * conclusion in the wrong image, a leaked hint...) and counts how many of the broken copies the check
 * meant for that defect rejects. Exits 1 when any check rejects 2% or more of a task's correct chains.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipelineConfig } from '../src/pipeline/load-config.js';
import { createReporter } from '../src/pipeline/progress.js';
import { runPipeline } from '../src/pipeline/runner.js';
import { SYNTH_TASKS } from '../src/sources/synthetic/vocabulary.js';
import type { PipelineConfig } from '../src/schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../src/schema/records.js';
import { ordinal } from '../src/sources/synthetic/vocabulary.js';
import { STANDARD_STAGES } from '../src/stages/index.js';
import { joinBySample } from '../src/stages/join.js';
import { hintTextFor } from '../src/stages/verify-stage.js';
import { VERDICT_REASONS, type VerdictReason } from '../src/schema/records.js';
import { verifyCandidate } from '../src/stages/verify.js';
import { auditRun, judgeChain, readSceneTruths, type FalseRejections } from '../src/stages/verify-truth.js';
import { readRows } from '../src/store/reader.js';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : d;
};
const PER_TASK = Number(arg('per-task', '300'));
const MODES = arg('mode', 'both') === 'both' ? (['hinted', 'blind'] as const) : ([arg('mode', 'hinted')] as const);
const TEMPERATURE = Number(arg('temperature', '0.8'));
const CONVENTION = arg('convention', 'qwen2vl');
const KEEP = arg('keep', '');
const LIMIT = 0.02;

export function pipelineYaml(o: { runDir: string; samples: number; seed: number; mode: string; temperature: number; convention: string; faults: boolean }): string {
  return `name: verify-fr
seed: ${o.seed}
runDir: ${JSON.stringify(o.runDir)}
source: { format: synthetic, samples: ${o.samples}, seed: ${o.seed}, difficulty: mixed, testFraction: 0 }
teacher:
  model: univg-sim-teacher
  simulated: { seed: ${o.seed}${o.faults ? ', faults: { rate_limit: 0.05, server_error: 0.03, malformed: 0.05, truncate: 0.02 }' : ''} }
  mode: ${o.mode}
  candidates: 3
  convention: ${o.convention}
  temperature: ${o.temperature}
  maxTokens: 768
  concurrency: 8
  timeoutMs: 20000
  cacheDir: ${JSON.stringify(join(o.runDir, '..', 'cache'))}
shards: { tasks: 4 }
`;
}

function table(fr: FalseRejections): { markdown: string; worst: number } {
  const tasks = SYNTH_TASKS.filter((t) => fr.byTask.has(t));
  const pct = (k: number, n: number) => (n === 0 ? '–' : `${((100 * k) / n).toFixed(1)}%`);
  const rows: string[] = [];
  rows.push(`| check | ${tasks.join(' | ')} |`);
  rows.push(`|---|${tasks.map(() => '---').join('|')}|`);
  rows.push(`| chains (correct) | ${tasks.map((t) => `${fr.byTask.get(t)!.chains} (${fr.byTask.get(t)!.correct})`).join(' | ')} |`);
  let worst = 0;
  for (const check of VERDICT_REASONS) {
    // False rejections (share of the task's correct chains) · incorrect chains the check rejected.
    const cells = tasks.map((t) => {
      const s = fr.byTask.get(t)!;
      const k = s.rejectedCorrect[check] ?? 0;
      worst = Math.max(worst, fr.rate(t, check));
      return `${pct(k, s.correct)}${k ? ` (${k})` : ''} · ${s.rejectedWrong[check] ?? 0}`;
    });
    rows.push(`| \`${check}\` | ${cells.join(' | ')} |`);
  }
  rows.push(`| *why incorrect* | ${tasks.map((t) => Object.entries(fr.byTask.get(t)!.wrong).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')).join(' | ')} |`);
  return { markdown: rows.join('\n'), worst };
}

/** One defect, made in a correct chain; null when this chain cannot carry it. */
interface Corruption {
  name: string;
  check: VerdictReason;
  apply(think: string, sample: GroundingSample, hint: string | null): string | null;
}
const split = (t: string) => t.split(/(?<=[.!?])\s+/);
const CORRUPTIONS: Corruption[] = [
  {
    name: 'the conclusion sentence looped 5 times',
    check: 'repetitive',
    apply: (t) => {
      const s = split(t);
      if (s.length < 2) return null;
      const k = s.length - 2;
      return [...s.slice(0, k), ...Array.from({ length: 5 }, () => s[k]!), ...s.slice(k + 1)].join(' ');
    },
  },
  {
    name: 'the conclusion names another image',
    check: 'target_image_not_named',
    apply: (t, sample) => {
      if (sample.images.length < 2) return null;
      const name = `${ordinal(sample.targetImage)} image`;
      const other = `${ordinal(sample.targetImage === 0 ? 1 : 0)} image`;
      const at = t.lastIndexOf(name);
      return at < 0 ? null : `${t.slice(0, at)}${other}${t.slice(at + name.length)}`;
    },
  },
  {
    name: "the reasoning's last box moved to the other half of the image",
    check: 'think_answer_disagree',
    apply: (t) => {
      const all = [...t.matchAll(/\((\d+),(\d+)\),\((\d+),(\d+)\)/g)];
      const m = all.at(-1);
      if (!m) return null;
      const [x1, y1, x2, y2] = m.slice(1, 5).map(Number) as [number, number, number, number];
      if (x2 - x1 >= 450) return null;
      const d = (x1 + x2) / 2 > 500 ? -500 : 500;
      return `${t.slice(0, m.index)}(${x1 + d},${y1}),(${x2 + d},${y2})${t.slice(m.index + m[0].length)}`;
    },
  },
  { name: 'admits the ground truth first', check: 'hint_leak', apply: (t, _s, hint) => (hint ? `The ground truth box is ${hint}. ${t}` : null) },
  { name: 'reasoning cut to its last sentence', check: 'think_too_short', apply: (t) => `Target: ${split(t).at(-1)!.slice(-24)}` },
  { name: 'the reasoning padded past maxThinkChars', check: 'think_too_long', apply: (t) => Array.from({ length: Math.ceil(6100 / t.length) }, (_, i) => `Pass ${i + 1}: ${t}`).join(' ') },
];

/** Every correct chain, broken once per corruption and verified: how many the intended check rejects. */
async function catchRates(runDir: string, config: PipelineConfig): Promise<Map<string, { made: number; caught: number }>> {
  const truths = await readSceneTruths(join(runDir, 'source', 'scenes.jsonl'));
  const mode = config.teacher!.mode;
  const out = new Map(CORRUPTIONS.map((c) => [c.name, { made: 0, caught: 0 }]));
  const joined = joinBySample<GroundingSample, { candidates: TeacherCandidate[] }>(readRows('GroundingSample', join(runDir, 'samples')), {
    candidates: readRows('TeacherCandidate', join(runDir, 'candidates')),
  });
  for await (const { sample, candidates } of joined) {
    const hint = hintTextFor(sample, config);
    for (const c of candidates) {
      if (!judgeChain(sample, c, truths.get(sample.id)!).correct) continue;
      const m = /^<think>([\s\S]*)<\/think>(<answer>[\s\S]*)$/.exec(c.completion!);
      if (!m) continue;
      for (const k of CORRUPTIONS) {
        const think = k.apply(m[1]!, sample, hint);
        if (think === null) continue;
        const v = verifyCandidate({ sample, candidate: { ...c, completion: `<think>${think}</think>${m[2]}` }, config: config.verify, mode, hintText: hint });
        const o = out.get(k.name)!;
        o.made++;
        if (v.reasons.includes(k.check)) o.caught++;
      }
    }
  }
  return out;
}

const root = KEEP || mkdtempSync(join(tmpdir(), 'univg-bench-verify-'));
let worst = 0;
try {
  for (const mode of MODES) {
    const runDir = join(root, `run-${mode}`);
    const text = pipelineYaml({ runDir, samples: PER_TASK * SYNTH_TASKS.length, seed: 11, mode, temperature: TEMPERATURE, convention: CONVENTION, faults: true });
    const { config } = parsePipelineConfig(text, 'verify-fr.yaml');
    const t0 = Date.now();
    await runPipeline({ config, configText: text, configFile: 'verify-fr.yaml', stages: STANDARD_STAGES, only: ['ingest', 'generate'], reporter: createReporter('quiet') });
    const t1 = Date.now();
    const fr = await auditRun(runDir, config);
    const { markdown, worst: w } = table(fr);
    worst = Math.max(worst, w);
    console.log(`\n### ${mode} mode, ${CONVENTION}: ${PER_TASK} samples per task x 3 candidates, temperature ${TEMPERATURE} (pipeline ${((t1 - t0) / 1000).toFixed(0)} s, audit ${((Date.now() - t1) / 1000).toFixed(1)} s)\n`);
    console.log('Each cell: share of the correct chains the check rejects (false rejections) · incorrect chains it rejects.\n');
    console.log(markdown);
    console.log(`\nCorrupted copies of the correct chains, and the share the check meant for the defect rejects:\n`);
    console.log('| defect | check | broken chains | rejected by that check |\n|---|---|---|---|');
    const rates = await catchRates(runDir, config);
    for (const k of CORRUPTIONS) {
      const r = rates.get(k.name)!;
      if (r.made > 0) console.log(`| ${k.name} | \`${k.check}\` | ${r.made} | ${((100 * r.caught) / r.made).toFixed(1)}% |`);
    }
  }
  console.log(`\nworst false-rejection rate: ${(100 * worst).toFixed(2)}% (limit ${100 * LIMIT}%)`);
  if (worst >= LIMIT) process.exitCode = 1;
} finally {
  if (!KEEP) rmSync(root, { recursive: true, force: true });
}
