/**
 * `scoreCorpus` options: what the caller gives, their validation, and the resume fingerprint (every
 * setting that decides the scored rows, and nothing that does not).
 */
import { resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { BoxConvention } from '../../schema/records.js';
import type { BackendName } from '../backend-names.js';
import { PAPER_EVAL } from '../eval/endpoint.js';
import { parseOptions } from '../../schema/options.js';
import { ScoreSettings } from '../../schema/train-options.js';
import type { MiouBucket, PhiKind, PhiOptions } from '../rl/difficulty.js';
import { SCORE_MAX_TOKENS, SCORE_PROMPT_VERSION } from './endpoint-source.js';
import { resolveSelection, type PoolSelection, type ResolvedSelection } from './pool.js';

export interface EndpointModel {
  baseUrl: string;
  model: string;
  /** Environment variable holding the key (default OPENAI_API_KEY); the key itself is never an option. */
  apiKeyEnv?: string;
  /** Requests in flight (default 8). */
  concurrency?: number;
  /** Response cache (default cache/teacher, relative to `root` or the working directory). */
  cacheDir?: string;
  /** Completion tokens per rollout (default: ScoreOptions.maxTokens, else 256, the paper's GRPO limit). */
  maxTokens?: number;
  /** Convention the model answers in (default: each row's own `convention`). */
  convention?: BoxConvention;
  /** Pixel budget the images are resized to (default the paper's 3136 / 401408). */
  minPixels?: number;
  maxPixels?: number;
  timeoutMs?: number;
  maxRetries?: number;
}

export interface ScoreOptions extends PoolSelection {
  /** Input shard dirs (RlRow or SftRow stage directories with a manifest). */
  data: string[];
  /** Directory relative image paths of the rows are read under (a run directory, for image-store paths). */
  dataRoot?: string;
  /** Output RlRow shard dir (part files, `_manifest.json`, `quarantine.jsonl`, `_score.json`). */
  out: string;
  model: { checkpoint: string; backend?: BackendName; convention?: BoxConvention } | { endpoint: EndpointModel };
  // G, temperature, maxTokens, phi, phiPower, seed, limit and the selection: meaning and defaults in
  // ScoreSettings (src/schema/train-options.ts), the schema the pipeline and `univg score` read too.
  G?: number;
  temperature?: number;
  maxTokens?: number;
  phi?: PhiKind;
  phiPower?: number;
  seed?: number;
  /**
   * Score only the first N rows in input order (directories as given, files in manifest order); the
   * rest are not read and not written. Quarantined rows count towards N.
   */
  limit?: number;
  /** Environment the API key is read from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Directory a relative endpoint cacheDir is resolved against (default the working directory). */
  root?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  progress?: (done: number, total: number | null) => void;
}

export interface ScoreResult {
  out: string;
  /** Rows written to `out` (after the pool selection). */
  rows: number;
  /** Rows scored (before the selection). */
  scored: number;
  /** Rows not scored, in `out/quarantine.jsonl` with id, field and reason. */
  quarantined: number;
  /** Scored rows the selection left out. */
  dropped: number;
  /** Scored rows per mIoU bucket (before the selection). */
  buckets: Record<MiouBucket, number>;
  /** Mean mIoU of the scored rows (0 when none). */
  meanDifficulty: number;
  seconds: number;
  /** `checkpoint:<dir>` or `endpoint:<model>`. */
  source: string;
  /** Input part files already scored by an earlier (interrupted) run and kept. */
  resumedParts: number;
  /** The source's counters for this run (rollouts; requests sent and served from the cache for an endpoint). */
  counters: Record<string, number>;
  /** Quarantine reasons and their counts. */
  reasons: Record<string, number>;
}

export interface Resolved {
  data: string[];
  dataRoot: string | null;
  out: string;
  G: number;
  temperature: number;
  maxTokens: number | null;
  phi: PhiOptions;
  seed: number;
  limit: number | null;
  selection: ResolvedSelection;
}

const SETTINGS = Object.keys(ScoreSettings.shape) as Array<keyof ScoreSettings>;

export function resolveOptions(o: ScoreOptions): Resolved {
  if (!Array.isArray(o.data) || o.data.length === 0) throw new ConfigError('give at least one input shard directory', { field: 'data' });
  if (!o.out) throw new ConfigError('give an output directory', { field: 'out' });
  const out = resolve(o.out);
  const data = o.data.map((d) => resolve(d));
  if (data.includes(out)) throw new ConfigError('the output directory is one of the inputs; score into another directory', { field: 'out' });
  if (new Set(data).size !== data.length) throw new ConfigError('an input directory is given twice', { field: 'data' });
  // Defaults and ranges: the score options' schema, the one the pipeline and `univg score` read.
  const given = Object.fromEntries(SETTINGS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  const st = parseOptions(ScoreSettings, given, 'scoreCorpus options');
  const m = o.model as Partial<{ checkpoint: string; endpoint: EndpointModel }> | undefined;
  if (!m || (m.checkpoint === undefined) === (m.endpoint === undefined)) throw new ConfigError('give exactly one model: a checkpoint or an endpoint', { field: 'model' });
  if (m.endpoint) {
    const e = m.endpoint;
    if (!e.baseUrl) throw new ConfigError('the endpoint needs a base URL', { field: 'model.endpoint.baseUrl' });
    if (!e.model) throw new ConfigError('the endpoint needs a model name', { field: 'model.endpoint.model' });
    if (e.convention !== undefined && !BoxConvention.safeParse(e.convention).success) throw new ConfigError(`unknown convention ${JSON.stringify(e.convention)}`, { field: 'model.endpoint.convention' });
  }
  const phi: PhiOptions = st.phi === 'power' ? { kind: st.phi, power: st.phiPower } : { kind: st.phi };
  const selection = resolveSelection(st);
  return { data, dataRoot: o.dataRoot === undefined ? null : resolve(o.dataRoot), out, G: st.G, temperature: st.temperature, maxTokens: st.maxTokens ?? null, phi, seed: st.seed, limit: st.limit ?? null, selection };
}

/** What decides an endpoint's answers besides the rows: like the cache key, not its address or key. */
export function endpointIdentity(e: EndpointModel, maxTokens: number | null): Record<string, string | number | null> {
  return {
    kind: 'endpoint',
    model: e.model,
    promptVersion: SCORE_PROMPT_VERSION,
    maxTokens: e.maxTokens ?? maxTokens ?? SCORE_MAX_TOKENS,
    minPixels: e.minPixels ?? PAPER_EVAL.minPixels,
    maxPixels: e.maxPixels ?? PAPER_EVAL.maxPixels,
    convention: e.convention ?? null,
  };
}
