/**
 * The main job exactly as a user runs it (`univg demo`, the shipped pipeline and its defaults): its short
 * training must visibly learn, i.e. the eval table puts the SFT model above the untrained one. The demo is
 * deterministic (same seed, same bytes), so this is one fixed outcome per backend, not a flaky draw; it
 * fails when the tower, the pointer, SFT or forced answers stop working together.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cli } from './cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'univg-demo-learns-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('the demo\'s SFT model points better than the untrained one (mean IoU on the test split, answers forced at the budget)', async () => {
  const runDir = join(work, 'demo');
  const r = await cli(['demo', '--run-dir', runDir, '--quiet'], work, { timeoutMs: 400_000 });
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
