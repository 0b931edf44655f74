/**
 * The dataset card (README.md) of an export: the Hugging Face YAML header (configs, features, splits,
 * license) then how the data was made. The features come from the same zod record as the Parquet
 * metadata, in the Hub's YAML spelling.
 */
import { stringify } from 'yaml';
import type { HfFeature } from '../schema/arrow.js';
import { hfFeaturesFor } from '../schema/arrow.js';
import type { RecordKind } from '../schema/records.js';
import type { FormatSpec, FormatContext } from './spec.js';

type YamlFeature = Record<string, unknown>;

/** One feature in the card's YAML form: `dtype: string`, `dtype: image`, `list: ...`, `struct: [...]`. */
function yamlFeature(name: string | null, f: HfFeature): YamlFeature {
  const named = (o: YamlFeature) => (name === null ? o : { name, ...o });
  if (Array.isArray(f)) {
    const inner = f[0]!;
    if (Array.isArray(inner) || !('_type' in inner)) return named({ list: structFields(inner) });
    return named({ list: (yamlFeature(null, inner) as { dtype: string }).dtype });
  }
  if ('_type' in f) return named({ dtype: f._type === 'Image' ? 'image' : (f as { dtype: string }).dtype });
  return named({ struct: structFields(f) });
}

function structFields(f: HfFeature): YamlFeature[] {
  return Object.entries(f as Record<string, HfFeature>).map(([k, v]) => yamlFeature(k, v));
}

export interface CardInput {
  spec: FormatSpec;
  kind: RecordKind;
  ctx: FormatContext;
  bytes: number;
  /** Lineage: the input pool and its manifest checksum. */
  input: { path: string; sha256?: string; kind?: string; rows?: number };
  version: string;
}

export function datasetCard(c: CardInput): string {
  const { spec, ctx } = c;
  const dataGlob = spec.storage === 'parquet' ? 'data/train-*.parquet' : spec.storage === 'json' ? 'data/train-*.json' : 'data/train-*.jsonl';
  const header: Record<string, unknown> = {
    license: 'other',
    pretty_name: `UniVG-R1 ${ctx.pool.toUpperCase()} corpus for ${spec.title} (${ctx.family})`,
    task_categories: ['image-text-to-text'],
    tags: ['visual-grounding', 'multi-image', 'chain-of-thought', 'univg', spec.name],
    configs: [{ config_name: 'default', data_files: [{ split: 'train', path: dataGlob }] }],
  };
  if (spec.storage === 'parquet') {
    header.dataset_info = {
      features: Object.entries(hfFeaturesFor(c.kind)).map(([k, v]) => yamlFeature(k, v)),
      splits: [{ name: 'train', num_bytes: c.bytes, num_examples: ctx.rows }],
    };
  }
  const sel = ctx.config;
  const filters = [
    sel.keep ? `buckets ${sel.keep.join(', ')}` : null,
    sel.minMiou !== undefined ? `mIoU >= ${sel.minMiou}` : null,
    sel.maxMiou !== undefined ? `mIoU <= ${sel.maxMiou}` : null,
  ].filter((x) => x !== null);
  const body = [
    `# UniVG-R1 ${ctx.pool === 'sft' ? 'chain-of-thought SFT' : 'RL (GRPO)'} data for ${spec.title}`,
    '',
    `Multi-image visual grounding rows written by \`univg export --format ${spec.name}\` (univg ${c.version}) from the`,
    `${c.input.kind ?? 'corpus'} shards at \`${c.input.path}\`${c.input.sha256 ? ` (manifest sha256 \`${c.input.sha256}\`)` : ''}: ${ctx.rows} rows in ${ctx.dataFiles.length} file(s).`,
    '',
    '## Boxes',
    '',
    `Model family **${ctx.family}**: every ground-truth box${ctx.pool === 'sft' ? ' and every box inside the chain of thought' : ''} is written in the`,
    `\`${ctx.answerConvention}\` convention (${ctx.answerConvention === 'qwen2vl' ? 'integers 0-1000 of the image' : `integer pixels of the model input, the image after ${spec.title}'s resize with a ${ctx.budget.minPixels}..${ctx.budget.maxPixels} pixel budget`}),`,
    'and stored beside the image width and height, the convention and the original-pixel box (GroundTruth JSON:',
    '`bbox`, `convention`, `image_w`, `image_h`, `input_w`, `input_h`, `bbox_px`, `target_image`).',
    '',
    '## Difficulty',
    '',
    'Rows scored by `univg score` carry `difficulty` (mIoU of G rollouts), `weight` (phi(mIoU)) and `bucket`.',
    filters.length ? `Kept: ${filters.join('; ')}.` : 'No difficulty filter.',
    ctx.curriculum ? `Order: ${sel.order}, one file per mIoU band, read in file order.` : 'Order: as in the corpus.',
    '',
    '## Training',
    '',
    `\`plugins/\` holds the reward${spec.name === 'verl' || spec.name === 'trl' ? ' and difficulty-weight' : ''} plugins, \`recipes/\` the launch recipe with UniVG-R1's hyper-parameters`,
    '(not run by univg; checked for consistency with this export). `_manifest.json` lists every file with its sha256.',
    '',
  ].join('\n');
  return `---\n${stringify(header, { lineWidth: 0 })}---\n\n${body}`;
}
