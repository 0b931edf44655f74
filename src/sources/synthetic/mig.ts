/**
 * The suite's output records in MIG-Bench format (thunlp/Migician eval/MIG-Bench/MIG_data.json):
 * `task, images, question, answer (0-1 floats, xyxy), additional_info, need_format`, plus `id`,
 * `split` and `difficulty`, which MIG-Bench lacks and readers may ignore.
 */
import { z } from 'zod';
import { fromPixels } from '../../geometry/index.js';
import { Difficulty } from '../../schema/records.js';
import { SYNTH_TASKS } from './vocabulary.js';
import type { Scene } from './scene.js';

/** Answer decimals: 4 places is 0.1 px on a 1024 px side (MIG-Bench itself writes 3). */
export const ANSWER_DECIMALS = 4;

export const MigRecord = z.object({
  id: z.string().min(1),
  task: z.string().min(1),
  images: z.array(z.string().min(1)).min(1),
  question: z.string().min(1),
  answer: z
    .tuple([z.number(), z.number(), z.number(), z.number()])
    .refine((b) => b.every((v) => v >= 0 && v <= 1), { message: 'answer coordinates are 0-1 floats' })
    .refine((b) => b[0] < b[2] && b[1] < b[3], { message: 'answer must satisfy x1 < x2 and y1 < y2' }),
  additional_info: z.string(),
  need_format: z.boolean(),
  split: z.enum(['train', 'test']),
  difficulty: Difficulty,
});
export type MigRecord = z.infer<typeof MigRecord>;

/** The suite's JSON files hold a top-level array of records. */
export const MigFile = z.array(MigRecord);

/** Synthetic tasks keep MIG-Bench's keys; this checks a record's task is one of them. */
export const isSynthTask = (t: string): boolean => (SYNTH_TASKS as readonly string[]).includes(t);

export function sampleId(seed: number, index: number): string {
  return `synth-s${seed}-${String(index).padStart(6, '0')}`;
}

/** Image path of image k of sample i, relative to the suite directory. */
export function imagePath(index: number, k: number): string {
  return `images/${String(index).padStart(6, '0')}_${k}.png`;
}

export function toMigRecord(scene: Scene, meta: { id: string; index: number; split: 'train' | 'test' }): MigRecord {
  const img = scene.images[scene.target.image]!;
  const f = 10 ** ANSWER_DECIMALS;
  const answer = fromPixels(scene.answer, 'norm', { width: img.width, height: img.height }).map((v) => Math.round(v * f) / f) as MigRecord['answer'];
  return {
    id: meta.id,
    task: scene.task,
    images: scene.images.map((_, k) => imagePath(meta.index, k)),
    question: scene.text,
    answer,
    additional_info: '',
    // As in MIG-Bench: tracking questions already state the box format, the others need it appended.
    need_format: scene.task !== 'object_tracking',
    split: meta.split,
    difficulty: scene.difficulty,
  };
}
