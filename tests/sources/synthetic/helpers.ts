/** Scenes shared by the synthetic-suite tests: every task at every level, a few seeds each. */
import type { Difficulty } from '../../../src/schema/records.js';
import { SYNTH_TASKS, makeRng, makeScene, type Scene } from '../../../src/sources/synthetic/index.js';

export const LEVELS: readonly Difficulty[] = ['easy', 'medium', 'hard'];

export function sceneSet(seeds: number): Scene[] {
  const out: Scene[] = [];
  for (const task of SYNTH_TASKS) for (const level of LEVELS) for (let s = 0; s < seeds; s++) out.push(makeScene(task, makeRng(4242, s, SYNTH_TASKS.indexOf(task), LEVELS.indexOf(level)), level, { tileSeed: 4242 }));
  return out;
}

export const label = (s: Scene) => `${s.task}/${s.difficulty}/${s.images.length} images`;
