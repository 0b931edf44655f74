/**
 * Exact resume after a real kill: `univg train sft` in a child process is SIGKILLed as soon as it has
 * written a checkpoint, resumed with --resume in a fresh process, and must end with the same weights
 * and optimizer state, bit for bit, as an uninterrupted run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../pipeline/cli-run.js';
import { tempDir, tinyCorpus } from './helpers.js';

const tmp = tempDir('resume');
let data: string;
beforeAll(async () => {
  data = await tinyCorpus(join(tmp.dir, 'corpus'), 16);
});
afterAll(() => tmp.cleanup());

const STEPS = 40;
const args = (out: string) => [
  'train',
  'sft',
  '--data',
  data,
  '--out',
  out,
  '--steps',
  String(STEPS),
  '--batch',
  '4',
  '--seed',
  '5',
  '--lr',
  '3e-3',
  '--d-model',
  '16',
  '--n-layers',
  '1',
  '--mlp-hidden',
  '32',
  '--image-size',
  '16',
  '--max-images',
  '3',
  '--checkpoint-every',
  '5',
  '--eval-every',
  '10',
  '--eval-fraction',
  '0.25',
  '--workers',
  '1',
  '--backend',
  'wasm',
];

const steps = (out: string) =>
  readdirSync(join(out, 'checkpoints'))
    .filter((n) => /^step-\d+$/.test(n))
    .map((n) => Number(n.slice(5)))
    .sort((a, b) => a - b);

describe('univg train sft: kill and resume', () => {
  it('a SIGKILLed run resumed in a fresh process ends with bit-identical weights', async () => {
    const full = join(tmp.dir, 'full');
    // Children are awaited, never spawnSync: a blocked test worker misses vitest's messages on a loaded machine.
    const r = await cli(args(full), tmp.dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend wasm/);

    const killed = join(tmp.dir, 'killed');
    // Kill as soon as the first checkpoint is in place, mid-run.
    const k = await cli(args(killed), tmp.dir, { killWhen: () => existsSync(join(killed, 'checkpoints', 'step-000005')) });
    expect(k.signal, k.stderr).toBe('SIGKILL');
    const reached = steps(killed);
    expect(reached.length).toBeGreaterThan(0);
    expect(reached[reached.length - 1]!).toBeLessThan(STEPS);
    expect(existsSync(join(killed, 'result.json'))).toBe(false);

    const resumed = await cli([...args(killed), '--resume'], tmp.dir);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resumed from .*step-0*${reached[reached.length - 1]} \\(step ${reached[reached.length - 1]}\\)`));
    const last = `step-${String(STEPS).padStart(6, '0')}`;
    const a = readFileSync(join(full, 'checkpoints', last, 'weights.bin'));
    const b = readFileSync(join(killed, 'checkpoints', last, 'weights.bin'));
    expect(a.length).toBeGreaterThan(1000);
    expect(b.equals(a)).toBe(true);
    expect(readFileSync(join(killed, 'checkpoints', last, 'optimizer.bin')).equals(readFileSync(join(full, 'checkpoints', last, 'optimizer.bin')))).toBe(true);
    // The log of the resumed run is the uninterrupted run's log, step for step.
    const losses = (out: string) =>
      readFileSync(join(out, 'train-log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((e) => [e.type, e.step, e.loss ?? e.evalLoss]);
    expect(losses(killed)).toEqual(losses(full));
  }, 240_000);
});
