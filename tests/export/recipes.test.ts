/**
 * The launch recipes are not run here (no GPU cluster), so they are checked for consistency: every path
 * they name exists in the export, every column and key they name is one the data and plugins have, the
 * pixel budget is the one the boxes were computed for, the hyper-parameters are the paper's (paper.ts,
 * from reference/univg-r1.md), and every script parses (bash -n, Python compile).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exportCorpus, LLAMAFACTORY_DATASET, PAPER_GRPO, PAPER_SFT, runPools, VERL_ESTIMATOR } from '../../src/export/index.js';
import { openParquet, readManifest } from '../../src/store/index.js';
import { PY, runPython } from '../python.js';
import { makeCorpusRun, tempDir } from './fixture.js';

const tmp = tempDir('recipes');
const rl = () => join(tmp.dir, 'rl');
const sft = () => join(tmp.dir, 'sft');

beforeAll(async () => {
  await makeCorpusRun(tmp.dir, 6);
  const pools = await runPools(tmp.dir);
  // verl has no pixel-budget setting; the others get the paper's RL budget (640000), the SFT one 401408.
  await exportCorpus({ config: { formats: ['verl'], modelFamily: 'qwen25vl' }, pools, dataRoot: tmp.dir, out: rl() });
  await exportCorpus({ config: { formats: ['easyr1', 'trl', 'vlm-r1'], modelFamily: 'qwen25vl', maxPixels: 640000 }, pools, dataRoot: tmp.dir, out: rl() });
  await exportCorpus({ config: { formats: ['llamafactory', 'trl'], modelFamily: 'qwen25vl', pool: 'sft', maxPixels: 401408 }, pools, dataRoot: tmp.dir, out: sft() });
}, 240_000);
afterAll(() => tmp.cleanup());

const read = (...p: string[]) => readFileSync(join(...p), 'utf8');
const budget = async (dir: string) => {
  const p = (await readManifest(dir))!.lineage.params as { minPixels: number; maxPixels: number };
  return { min: p.minPixels, max: p.maxPixels };
};
async function columns(dir: string): Promise<string[]> {
  const data = readdirSync(join(dir, 'data')).filter((f) => f.endsWith('.parquet'));
  const f = await openParquet(join(dir, 'data', data[0]!));
  const names = f.footer.schema.fields.map((x) => x.name);
  f.close();
  return names;
}
/** `key=value` (hydra) or `--key value` (argparse) settings of a shell recipe. */
function settings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\s+\+?([\w.]+)=("[^"]*"|\S+)/gm)) out.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));
  for (const m of text.matchAll(/^\s+--(\w+)(?: ("[^"]*"|[^\s\\]+))?/gm)) out.set(m[1]!, (m[2] ?? 'true').replace(/^"|"$/g, ''));
  return out;
}
/** Every `$EXPORT_DIR/...` path a shell recipe names, resolved in the export. */
function exportPaths(text: string, dir: string): string[] {
  return [...text.matchAll(/\$EXPORT_DIR\/([^'",:\s@]*)/g)].map((m) => join(dir, m[1]!));
}
const bashParses = (file: string) => spawnSync('bash', ['-n', file], { encoding: 'utf8' }).status;
const pyCompiles = (file: string) => spawnSync(PY, ['-c', `import ast,sys; ast.parse(open(sys.argv[1]).read())`, file], { encoding: 'utf8' }).status;

describe('launch recipes name only what the export has', () => {
  it('verl: data files, columns, reward function, estimator, pixel budget, the paper\'s GRPO settings', async () => {
    const dir = join(rl(), 'verl');
    const file = join(dir, 'recipes', 'run_grpo.sh');
    const text = read(file);
    expect(bashParses(file)).toBe(0);
    expect(statSync(file).mode & 0o111).not.toBe(0);
    expect(text).toMatch(/NOT RUN HERE/);
    const paths = exportPaths(text, dir);
    expect(paths.length).toBeGreaterThan(2);
    for (const p of paths) expect(existsSync(p), p).toBe(true);
    const s = settings(text);
    const cols = await columns(dir);
    for (const k of ['data.prompt_key', 'data.image_key', 'data.reward_fn_key']) expect(cols, k).toContain(s.get(k));
    expect(s.get('data.train_files')).toBe('$FILES');
    expect(/^FILES="(.*)"$/m.exec(text)![1]).toBe(`[${(await readManifest(dir))!.files.map((f) => `'$EXPORT_DIR/${f.file}'`).join(',')}]`);
    const plugin = read(dir, 'plugins', 'verl_reward.py');
    expect(plugin).toMatch(new RegExp(`def ${s.get('custom_reward_function.name')}\\(data_source, solution_str, ground_truth, extra_info=None, pack_format=False`));
    expect(s.get('custom_reward_function.reward_kwargs.pack_format')).toBe('True');
    expect(s.get('algorithm.adv_estimator')).toBe(VERL_ESTIMATOR);
    expect(read(dir, 'plugins', 'verl_difficulty.py')).toContain(`ESTIMATOR = "${VERL_ESTIMATOR}"`);
    expect(plugin).toContain('import verl_difficulty');
    const P = PAPER_GRPO;
    expect(Object.fromEntries(['actor_rollout_ref.rollout.n', 'actor_rollout_ref.actor.kl_loss_coef', 'actor_rollout_ref.actor.clip_ratio', 'actor_rollout_ref.actor.optim.lr', 'data.max_response_length', 'actor_rollout_ref.rollout.temperature', 'data.train_batch_size', 'actor_rollout_ref.actor.ppo_mini_batch_size', 'trainer.total_epochs'].map((k) => [k, Number(s.get(k))]))).toEqual({
      'actor_rollout_ref.rollout.n': P.G,
      'actor_rollout_ref.actor.kl_loss_coef': P.beta,
      'actor_rollout_ref.actor.clip_ratio': P.epsilon,
      'actor_rollout_ref.actor.optim.lr': P.lr,
      'data.max_response_length': P.maxCompletionTokens,
      'actor_rollout_ref.rollout.temperature': P.temperature,
      'data.train_batch_size': P.promptsPerStep,
      'actor_rollout_ref.actor.ppo_mini_batch_size': P.promptsPerStep,
      'trainer.total_epochs': P.epochs,
    });
    expect([s.get('actor_rollout_ref.actor.use_kl_loss'), s.get('actor_rollout_ref.actor.kl_loss_type'), s.get('actor_rollout_ref.actor.loss_agg_mode')]).toEqual(['True', 'low_var_kl', 'seq-mean-token-mean']);
    // verl has no pixel-budget setting: the export used the one verl always uses.
    expect(await budget(dir)).toEqual({ min: 3136, max: 12845056 });
  });

  it('EasyR1: config keys are columns, the reward function exists, the budget is the export\'s, the settings are the paper\'s', async () => {
    const dir = join(rl(), 'easyr1');
    const cfg = parse(read(dir, 'recipes', 'config.yaml'));
    const cols = await columns(dir);
    for (const k of ['prompt_key', 'answer_key', 'image_key']) expect(cols, k).toContain(cfg.data[k]);
    expect(cfg.data.format_prompt).toBeNull();
    expect({ min: cfg.data.min_pixels, max: cfg.data.max_pixels }).toEqual(await budget(dir));
    expect(cfg.data.max_pixels).toBe(640000);
    const [path, fn] = (cfg.worker.reward.reward_function as string).split(':');
    expect(read(dir, path!)).toMatch(new RegExp(`def ${fn}\\(reward_inputs`));
    expect(read(dir, path!)).toContain('REWARD_TYPE = "batch"');
    const P = PAPER_GRPO;
    expect([cfg.worker.rollout.n, cfg.algorithm.kl_coef, cfg.worker.actor.clip_ratio_low, cfg.worker.actor.clip_ratio_high, cfg.worker.actor.optim.lr, cfg.data.max_response_length, cfg.data.rollout_batch_size, cfg.worker.actor.global_batch_size, cfg.worker.actor.loss_avg_mode]).toEqual([P.G, P.beta, P.epsilon, P.epsilon, P.lr, P.maxCompletionTokens, P.promptsPerStep, P.promptsPerStep, 'seq']);
    const run = join(dir, 'recipes', 'run_grpo.sh');
    expect(bashParses(run)).toBe(0);
    for (const p of exportPaths(read(run), dir)) expect(existsSync(p), p).toBe(true);
    expect(read(run)).toContain('data.train_files="$EXPORT_DIR/data@train"');
  });

  it('TRL: data files, plugin imports, columns the rewards read, processor budget, the paper\'s GRPO and SFT settings', async () => {
    for (const [root, script] of [[rl(), 'train_grpo.py'], [sft(), 'train_sft.py']] as const) {
      const dir = join(root, 'trl');
      const file = join(dir, 'recipes', script);
      expect(pyCompiles(file)).toBe(0);
      const text = read(file);
      const files = JSON.parse(/for f in (\[.*\])\]/.exec(text)![1]!) as string[];
      expect(files).toEqual((await readManifest(dir))!.files.map((f) => f.file));
      for (const f of files) expect(existsSync(join(dir, f))).toBe(true);
      expect({ min: Number(/MIN_PIXELS = (\d+)/.exec(text)![1]), max: Number(/MAX_PIXELS = (\d+)/.exec(text)![1]) }).toEqual(await budget(dir));
      for (const m of text.matchAll(/from (\w+) import ([\w, ]+)/g)) {
        if (['datasets', 'transformers', 'trl'].includes(m[1]!)) continue;
        const plugin = read(dir, 'plugins', `${m[1]}.py`);
        for (const name of m[2]!.split(',').map((x) => x.trim())) expect(plugin, `${m[1]}.${name}`).toMatch(new RegExp(`^(def|class) ${name}\\b`, 'm'));
      }
      const cols = await columns(dir);
      expect(cols).toEqual(expect.arrayContaining(['prompt', 'images', 'solution']));
    }
    const grpo = read(rl(), 'trl', 'recipes', 'train_grpo.py');
    const v = (k: string) => Number(new RegExp(`^    ${k}=([\\d.e-]+),`, 'm').exec(grpo)![1]);
    const P = PAPER_GRPO;
    expect([v('num_generations'), v('beta'), v('epsilon'), v('learning_rate'), v('temperature'), v('max_completion_length'), v('per_device_train_batch_size'), v('gradient_accumulation_steps')]).toEqual([P.G, P.beta, P.epsilon, P.lr, P.temperature, P.maxCompletionTokens, P.perDeviceBatch, P.gradAccum]);
    expect(grpo).toContain('loss_type="grpo"');
    expect(grpo).toContain('scale_rewards="group"');
    // The TRL reward functions read the `solution` column by that name.
    expect(read(rl(), 'trl', 'plugins', 'trl_rewards.py')).toMatch(/def univg_accuracy\(completions, solution, \*\*kwargs\)/);
    const sftText = read(sft(), 'trl', 'recipes', 'train_sft.py');
    expect(Number(/learning_rate=([\d.e-]+)/.exec(sftText)![1])).toBe(PAPER_SFT.lr);
  });

  it('LLaMA-Factory: dataset_info.json and sft.yaml agree with the data; the settings are the paper\'s stage 1', async () => {
    const dir = join(sft(), 'llamafactory');
    const info = JSON.parse(read(dir, 'dataset_info.json'));
    const cfg = parse(read(dir, 'recipes', 'sft.yaml'));
    expect(Object.keys(info)).toEqual([cfg.dataset]);
    expect(cfg.dataset).toBe(LLAMAFACTORY_DATASET);
    const entry = info[cfg.dataset];
    expect(cfg.dataset_dir).toBe('.');
    expect(statSync(join(dir, cfg.dataset_dir, entry.file_name)).isDirectory()).toBe(true);
    const rows = readdirSync(join(dir, entry.file_name)).flatMap((f) => JSON.parse(read(dir, entry.file_name, f)) as Array<Record<string, unknown>>);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r).toHaveProperty(entry.columns.messages);
      const msgs = r[entry.columns.messages] as Array<Record<string, string>>;
      expect(msgs.map((m) => m[entry.tags.role_tag])).toEqual([entry.tags.user_tag, entry.tags.assistant_tag]);
      for (const m of msgs) expect(typeof m[entry.tags.content_tag]).toBe('string');
      // Images resolve against media_dir, which defaults to dataset_dir.
      for (const p of r[entry.columns.images] as string[]) expect(existsSync(join(dir, cfg.dataset_dir, p)), p).toBe(true);
    }
    expect({ min: cfg.image_min_pixels, max: cfg.image_max_pixels }).toEqual(await budget(dir));
    expect(cfg.image_max_pixels).toBe(PAPER_SFT.imageMaxPixels);
    const P = PAPER_SFT;
    expect([cfg.template, cfg.learning_rate, cfg.lr_scheduler_type, cfg.warmup_ratio, cfg.num_train_epochs, cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, cfg.cutoff_len, cfg.freeze_vision_tower, cfg.finetuning_type, cfg.stage]).toEqual([P.template, P.lr, P.scheduler, P.warmupRatio, P.epochs, P.perDeviceBatch, P.gradAccum, P.cutoffLen, true, 'full', 'sft']);
  });

  it('VLM-R1: data files, image folders that hold every image, registered reward functions, budget, the paper\'s settings', async () => {
    const dir = join(rl(), 'vlm-r1');
    const run = join(dir, 'recipes', 'run_grpo.sh');
    expect(bashParses(run)).toBe(0);
    expect(pyCompiles(join(dir, 'recipes', 'vlmr1_train.py'))).toBe(0);
    const s = settings(read(run));
    const files = s.get('data_file_paths')!.split(':').map((p) => p.replace('$EXPORT_DIR/', ''));
    const folders = s.get('image_folders')!.split(':').map((p) => p.replace('$EXPORT_DIR/', ''));
    expect(files).toEqual((await readManifest(dir))!.files.map((f) => f.file));
    expect(folders).toHaveLength(files.length);
    files.forEach((f, i) => {
      for (const line of read(dir, f).trim().split('\n')) for (const p of JSON.parse(line).image as string[]) expect(existsSync(join(dir, folders[i]!, p)), p).toBe(true);
    });
    const names = read(run).match(/--reward_funcs ([\w ]+) \\/)![1]!.trim().split(/\s+/);
    const registered = runPython(['-c', `import sys; sys.path.insert(0, ${JSON.stringify(join(dir, 'plugins'))}); import vlmr1_reward; print(" ".join(sorted(vlmr1_reward.REWARD_FUNCS)))`], '').trim().split(' ');
    expect(registered).toEqual(expect.arrayContaining(names));
    expect(read(dir, 'recipes', 'vlmr1_train.py')).toContain('grpo_jsonl.reward_funcs_registry.update(REWARD_FUNCS)');
    expect({ min: Number(s.get('min_pixels')), max: Number(s.get('max_pixels')) }).toEqual(await budget(dir));
    const P = PAPER_GRPO;
    expect(['num_generations', 'beta', 'epsilon', 'learning_rate', 'temperature', 'max_completion_length', 'per_device_train_batch_size', 'gradient_accumulation_steps', 'num_train_epochs'].map((k) => Number(s.get(k)))).toEqual([P.G, P.beta, P.epsilon, P.lr, P.temperature, P.maxCompletionTokens, P.perDeviceBatch, P.gradAccum, P.epochs]);
  });

  it('every exported plugin is valid Python', () => {
    for (const root of [rl(), sft()])
      for (const fmt of readdirSync(root).filter((n) => !n.startsWith('_') && !n.startsWith('.')))
        if (existsSync(join(root, fmt, 'plugins'))) for (const f of readdirSync(join(root, fmt, 'plugins')).filter((n) => n.endsWith('.py'))) expect(pyCompiles(join(root, fmt, 'plugins', f)), `${fmt}/${f}`).toBe(0);
  });
});
