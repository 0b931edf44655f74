/**
 * The main job exactly as a user runs it (`univg demo`, the shipped pipeline and its defaults): its short
 * training must visibly learn, i.e. the eval table puts the SFT model above the untrained one. The demo is
 * deterministic (same seed, same bytes), so this is one fixed outcome per backend, not a flaky draw; it
 * fails when the tower, the pointer, SFT or forced answers stop working together.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'univg-demo-learns-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function demo(runDir: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'demo', '--run-dir', runDir, '--quiet'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 400_000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

it('the demo\'s SFT model points better than the untrained one (mean IoU on the test split, answers forced at the budget)', async () => {
  const runDir = join(work, 'demo');
  const r = await demo(runDir);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const results = JSON.parse(readFileSync(join(runDir, 'eval', 'results.json'), 'utf8'));
  const m = (name: string) => results.models.find((x: { name: string }) => x.name === name).metrics;
  const untrained = m('untrained');
  const sft = m('sft');
  // Every sample is answered (forced where the chain ran out), so both are scored on the same boxes.
  expect(sft.counts.samples).toBe(untrained.counts.samples);
  expect(sft.average.answer.meanIou).toBeGreaterThan(untrained.average.answer.meanIou + 0.02);
}, 420_000);
