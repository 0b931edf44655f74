/**
 * Exact resume of GRPO after a real kill: `univg train rl` in a child process is SIGKILLed once it has
 * written a checkpoint, resumed with --resume in a fresh process, and must end with the weights, AdamW
 * state and step log of an uninterrupted run, bit for bit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainSft } from '../../../src/train/sft.js';
import { tempDir, tinyCorpus, TINY } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'univg.js');
const tmp = tempDir('rl-resume');
let data: string;
let sft: string;
beforeAll(async () => {
  data = await tinyCorpus(join(tmp.dir, 'corpus'), 12, 6);
  sft = join(tmp.dir, 'sft');
  await trainSft({ data: [data], out: sft, steps: 20, batch: 4, lr: 3e-3, seed: 2, model: TINY, evalEvery: 0, evalFraction: 0, backend: 'wasm', workers: 1, log: () => {} });
}, 120_000);
afterAll(() => tmp.cleanup());

const STEPS = 10;
const args = (out: string) =>
  [bin, 'train', 'rl', '--data', data, '--init', sft, '--out', out, '--steps', String(STEPS), '--prompts', '2', '--g', '3', '--lr', '1e-3', '--max-tokens', '16']
    .concat(['--seed', '4', '--checkpoint-every', '2', '--workers', '1', '--backend', 'wasm', '--keep-checkpoints', '0']);

const steps = (out: string) =>
  readdirSync(join(out, 'checkpoints'))
    .filter((n) => /^step-\d+$/.test(n))
    .map((n) => Number(n.slice(5)))
    .sort((a, b) => a - b);

describe('univg train rl: kill and resume', () => {
  it('a SIGKILLed run resumed in a fresh process ends with bit-identical weights and log', async () => {
    const full = join(tmp.dir, 'full');
    const r = spawnSync(process.execPath, args(full), { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/trained step 10\/10 on backend wasm/);

    const killed = join(tmp.dir, 'killed');
    const child = spawn(process.execPath, args(killed), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    for (let i = 0; i < 6000 && !existsSync(join(killed, 'checkpoints', 'step-000004')); i++) await new Promise((res) => setTimeout(res, 5));
    child.kill('SIGKILL');
    expect(await exited, stderr).toBe('SIGKILL');
    const reached = steps(killed);
    expect(reached[reached.length - 1]!).toBeLessThan(STEPS);
    expect(existsSync(join(killed, 'result.json'))).toBe(false);

    const resumed = spawnSync(process.execPath, [...args(killed), '--resume'], { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*\(step \d+\)/);
    const last = `step-${String(STEPS).padStart(6, '0')}`;
    for (const f of ['weights.bin', 'optimizer.bin']) expect(readFileSync(join(killed, 'checkpoints', last, f)).equals(readFileSync(join(full, 'checkpoints', last, f)))).toBe(true);
    const logOf = (out: string) =>
      readFileSync(join(out, 'rl-log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((e) => [e.step, e.rewardMean, e.kl, e.loss, e.gradNorm]);
    expect(logOf(killed)).toEqual(logOf(full));
  }, 240_000);

  it('bad flags get one line and exit 2', () => {
    const r = spawnSync(process.execPath, [bin, 'train', 'rl', '--data', data, '--init', sft, '--out', join(tmp.dir, 'x'), '--steps', '2', '--phi', 'cubic'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--phi must be one of exp, power, log, none/);
  });
});
