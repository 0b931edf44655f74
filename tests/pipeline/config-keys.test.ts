/**
 * An unknown key in a pipeline file points at its own line (not its value's, which for a block is a later
 * line) and suggests the valid key it most likely meant.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nearestKey, parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { ConfigError } from '../../src/errors.js';
import { PipelineConfig } from '../../src/schema/config.js';

const BIN = fileURLToPath(new URL('../../bin/univg.js', import.meta.url));

function errorOf(text: string): ConfigError {
  try {
    parsePipelineConfig(text, 'p.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('unknown config keys', () => {
  it('a misspelt block key points at its own line and suggests the valid one', () => {
    const e = errorOf('name: x\nsource: { format: synthetic }\nteacher:\n  model: m\n  simulatd:\n    seed: 1\n');
    expect(e.context).toMatchObject({ line: 5, column: 3, field: 'teacher.simulatd' });
    expect(e.describe()).toBe('config: unknown key "simulatd" (did you mean "simulated"?) in teacher (p.yaml:5:3, field "teacher.simulatd")');
  });

  it('snake_case and other case are matched to the camelCase key; the union member is the one the file picks', () => {
    expect(errorOf('name: x\nsource: { format: synthetic }\ntrain:\n  sft:\n    checkpoint_every: 5\n').message).toMatch(/unknown key "checkpoint_every" \(did you mean "checkpointEvery"\?\) in train\.sft/);
    expect(errorOf('name: x\nsource:\n  format: mgrounding\n  input: a.json\n  image_root: img\n').message).toMatch(/"image_root" \(did you mean "imageRoot"\?\) in source/);
    expect(errorOf('name: x\nsource:\n  format: synthetic\n  sampels: 3\n').message).toMatch(/"sampels" \(did you mean "samples"\?\)/);
  });

  it('every unknown key of a section is listed with its line', () => {
    const e = errorOf('name: x\nsource: { format: synthetic }\ntrain:\n  sft:\n    stepz: 3\n    batch: 2\n    lrr: 1\n');
    expect(e.context.line).toBe(5);
    expect(e.message).toBe('unknown key "stepz" (did you mean "steps"?) in train.sft; also unknown: "lrr" (did you mean "lr"?) on line 7');
  });

  it('with no likely match, the valid keys are listed', () => {
    const e = errorOf('name: x\nsource: { format: synthetic }\nzzzqqq: 1\n');
    expect(e.context.line).toBe(3);
    // Every top-level key of the schema, in its order (a section added to the schema shows up here too).
    const keys = Object.keys(PipelineConfig.shape);
    expect(keys).toEqual(expect.arrayContaining(['name', 'source', 'teacher', 'verify', 'select', 'train']));
    expect(e.message).toBe(`unknown key "zzzqqq"; valid keys: ${keys.join(', ')}`);
    expect(nearestKey('verfy', ['verify', 'select'])).toBe('verify');
    expect(nearestKey('completely', ['verify', 'select'])).toBeNull();
  });

  it('through `univg run`: one line, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'univg-keys-'));
    try {
      const file = join(dir, 'typo.yaml');
      writeFileSync(file, 'name: typo\nsource: { format: synthetic }\ntrain:\n  sft:\n    steps: 10\n    checkpoint_every: 5\n');
      const r = spawnSync(process.execPath, [BIN, 'run', file], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`univg: config: unknown key "checkpoint_every" (did you mean "checkpointEvery"?) in train.sft (${file}:6:5`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
