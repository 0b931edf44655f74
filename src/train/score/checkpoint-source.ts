/**
 * Rollouts from a checkpoint of the in-repo model: each row's images decoded the way training decodes
 * them, its prompt encoded as training encodes it, and G completions sampled together by `sampleGroup`
 * (one prefill, G decode rows). The row's stream is seeded with (seed, row id), so a row's rollouts do
 * not depend on which other rows are scored, in what order, or after a resume. Loads TensorFlow.js.
 */
import { InputError, UnivgError } from '../../errors.js';
import { BoxConvention } from '../../schema/records.js';
import type { BackendName } from '../backend.js';
import { promptIds } from '../batching.js';
import { loadCheckpoint } from '../generate.js';
import { decodeImage } from '../image.js';
import { sampleGroup } from '../rl/rollout.js';
import { PAPER_EVAL } from '../eval/endpoint.js';
import { loadRowImages } from './images.js';
import { checkpointIdentity } from './checkpoint-identity.js';
import type { RolloutSampling, RolloutSource } from './source.js';

export interface CheckpointSourceOptions extends RolloutSampling {
  /** Try this tfjs backend first (default: the best available, or $UNIVG_BACKEND). */
  backend?: BackendName;
  /** Convention of the model's answers (default: the checkpoint's training `convention`, else qwen2vl). */
  convention?: BoxConvention;
}

/** The row seed of `sampleGroup`: rollout g of the row draws from stream `rollout:score:<seed>:<id>:g`. */
export const rowSeed = (seed: number, id: string) => `score:${seed}:${id}`;

export async function openCheckpointSource(dir: string, o: CheckpointSourceOptions): Promise<RolloutSource> {
  const identity = await checkpointIdentity(dir);
  const loaded = await loadCheckpoint(identity.checkpoint, o.backend ? { prefer: o.backend } : {});
  const { model, tokenizer } = loaded;
  if (loaded.state.weights.sha256 !== identity.weights) {
    model.dispose();
    throw new InputError('the checkpoint changed while it was being opened', { file: identity.checkpoint });
  }
  const c = model.config;
  const recorded = BoxConvention.safeParse(loaded.state.train?.convention);
  const convention = o.convention ?? (recorded.success ? recorded.data : 'qwen2vl');
  const maxTokens = Math.min(o.maxTokens ?? c.maxTargetTokens, c.maxTargetTokens);
  const counts = { rows: 0, rollouts: 0, tokens: 0 };
  return {
    name: `checkpoint:${identity.checkpoint}`,
    convention,
    // Only read for a checkpoint declared qwen25vl (the in-repo model writes 0-1000): the paper's budget.
    budget: { minPixels: PAPER_EVAL.minPixels, maxPixels: PAPER_EVAL.maxPixels },
    // Sampling is synchronous tensor work on one backend: one row at a time.
    concurrency: 1,
    async rollouts(row) {
      if (row.images.length > c.maxImages) {
        throw new InputError(`${row.images.length} images; the model takes at most ${c.maxImages}`, { recordId: row.id, field: 'images', reason: 'too_many_images' });
      }
      const bytes = await loadRowImages(row, o.dataRoot);
      const images = await Promise.all(
        bytes.map(async (b, k) => {
          try {
            return await decodeImage(b, { size: c.imageSize, fit: 'stretch' });
          } catch (err) {
            const msg = err instanceof UnivgError ? err.message : String(err);
            throw new InputError(msg, { recordId: row.id, field: `images[${k}]`, reason: 'image_unreadable' }, { cause: err });
          }
        }),
      );
      const group = await sampleGroup(model, tokenizer, images, promptIds(tokenizer, row.prompt), { G: o.G, temperature: o.temperature, maxTokens, seed: rowSeed(o.seed, row.id) });
      counts.rows++;
      counts.rollouts += group.length;
      for (const r of group) counts.tokens += r.tokens.length;
      return group.map((r) => r.text);
    },
    stats: () => ({ ...counts }),
    close: () => {
      model.dispose();
      return Promise.resolve();
    },
  };
}
