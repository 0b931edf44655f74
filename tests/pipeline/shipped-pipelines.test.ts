/**
 * Every pipeline file the project ships parses against the schema and names stages that exist, so a
 * README command that points at one cannot fail on its first line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { resolveStages } from '../../src/pipeline/runner.js';
import { STANDARD_STAGES } from '../../src/stages/index.js';

const DIR = fileURLToPath(new URL('../../pipelines/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

describe('shipped pipelines', () => {
  it('are there', () => {
    expect(files).toEqual(expect.arrayContaining(['demo.yaml', 'train.yaml', 'lab-corpus.yaml']));
  });

  it.each(files)('%s parses and plans its stages', (f) => {
    const { config } = parsePipelineConfig(readFileSync(join(DIR, f), 'utf8'), `pipelines/${f}`);
    const stages = resolveStages(STANDARD_STAGES, config).map((s) => s.name);
    expect(stages.length).toBeGreaterThan(0);
    if (config.train) expect(stages).toContain('eval');
  });

  it('train.yaml runs vision pretraining, then SFT that points, scoring, GRPO and eval, in that order', () => {
    const { config } = parsePipelineConfig(readFileSync(join(DIR, 'train.yaml'), 'utf8'), 'pipelines/train.yaml');
    const stages = resolveStages(STANDARD_STAGES, config).map((s) => s.name);
    const order = ['train-vision', 'train-sft', 'score', 'train-rl', 'eval'].map((n) => stages.indexOf(n));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(config.train?.sft?.model.pointer).toBe(true);
  });
});
