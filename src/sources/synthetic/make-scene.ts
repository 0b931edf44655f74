/**
 * makeScene: draw a scene for a task until its measured difficulty is the one asked for and the scene
 * graph shows that exactly one object answers the question. Pure: the same Rng state gives the same scene.
 */
import type { Difficulty } from '../../schema/records.js';
import { UnivgError } from '../../errors.js';
import { renderQuestion, type SynthTask } from './vocabulary.js';
import { difficultyLabel, measureDifficulty } from './difficulty.js';
import { REGIMES } from './layout.js';
import type { Rng } from './rng.js';
import { type Scene, visibility } from './scene.js';
import { BUILDERS } from './tasks/index.js';
import { interpret } from './verify.js';

export const MAX_ATTEMPTS = 400;

export interface MakeSceneOptions {
  /** Seed of the background texture tiles (a suite uses its own seed, so tiles are made once). */
  tileSeed?: number;
}

export function makeScene(task: SynthTask, rng: Rng, difficulty: Difficulty, opts: MakeSceneOptions = {}): Scene {
  const build = BUILDERS[task];
  const ctx = { rng, regime: REGIMES[difficulty], tileSeed: opts.tileSeed ?? 0 };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const draft = build(ctx);
    if (!draft) continue;
    const img = draft.images[draft.target.image]!;
    const ti = img.objects.findIndex((o) => o.id === draft.target.objectId);
    const vis = visibility(img.objects, ti);
    if (!vis.box) continue;
    const metrics = measureDifficulty(img, draft.target.objectId);
    if (difficultyLabel(metrics.score) !== difficulty) continue;
    const scene: Scene = { ...draft, text: renderQuestion(draft.question), answer: vis.box, difficulty, metrics, detail: { ...draft.detail, attempts: attempt + 1 } };
    if (interpret(scene).problems.length === 0) return scene;
  }
  // Reaching this is a generator bug (a regime that cannot produce its own label), not bad input.
  throw new UnivgError('synthetic', `no valid ${difficulty} ${task} scene after ${MAX_ATTEMPTS} attempts`, { task, difficulty });
}
