/**
 * `univg score`: offline difficulty of an RL (or SFT) pool from G rollouts per row of a checkpoint or of
 * any OpenAI-compatible endpoint; writes RlRow shards with difficulty (mIoU), weight phi(mIoU) and
 * bucket, optionally filtered and curriculum-ordered.
 *
 *   univg score --data runs/demo/corpus/rl --data-root runs/demo --out runs/demo/train/scored --checkpoint runs/demo/train/sft
 *   univg score --data corpus/rl --data-root . --out scored --endpoint http://localhost:8000/v1 --model univg-sft-7b --g 8
 */
import type { Command } from 'commander';
import { ScoreRunFlags } from '../../schema/train-options.js';
import { MIOU_BUCKETS } from '../../train/rl/difficulty.js';
import type { ScoreOptions, ScoreResult } from '../../train/score/options.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

/** `univg score`'s flags: ScoreRunFlags (the score settings every path shares, the data, the model). */
export const SCORE_FLAGS = schemaFlags(ScoreRunFlags, { placeholders: { endpoint: '<url>', model: '<name>', apiKeyEnv: '<name>', cacheDir: '<dir>' } });

const ENDPOINT_ONLY = ['model', 'apiKeyEnv', 'concurrency', 'cacheDir', 'minPixels', 'maxPixels'] as const;

/** ScoreOptions from the flags; checks combinations before anything is read. */
export function scoreOptions(values: Record<string, unknown>): ScoreOptions {
  const f = SCORE_FLAGS.parse(values);
  if ((f.checkpoint === undefined) === (f.endpoint === undefined)) throw usage('say where rollouts come from: --checkpoint DIR or --endpoint URL --model NAME (one of them)');
  if (f.checkpoint !== undefined) {
    for (const k of ENDPOINT_ONLY) if (SCORE_FLAGS.given(values, k)) throw usage(`${SCORE_FLAGS.flagOf(k)} applies to --endpoint only`);
  } else {
    if (!f.model) throw usage('--endpoint needs --model <name> (the model the endpoint serves)');
    if (f.backend !== undefined) throw usage('--backend applies to --checkpoint only');
  }
  const { checkpoint, endpoint, model: name, apiKeyEnv, concurrency, cacheDir, convention, minPixels, maxPixels, backend, ...settings } = f;
  const model: ScoreOptions['model'] =
    checkpoint !== undefined
      ? { checkpoint, ...(backend !== undefined ? { backend } : {}), ...(convention ? { convention } : {}) }
      : { endpoint: { baseUrl: endpoint!, model: name!, apiKeyEnv, concurrency, cacheDir, ...(convention ? { convention } : {}), ...(minPixels !== undefined ? { minPixels } : {}), ...(maxPixels !== undefined ? { maxPixels } : {}) } };
  return { ...settings, model };
}

function summary(r: ScoreResult): string {
  const lines = [
    `univg score: ${r.scored} rows scored by ${r.source}; mean mIoU ${r.meanDifficulty.toFixed(3)}; buckets ${MIOU_BUCKETS.map((b) => `${b} ${r.buckets[b]}`).join(', ')}`,
    `  ${r.rows} rows written to ${r.out}${r.dropped ? ` (${r.dropped} left out by the selection)` : ''}${r.quarantined ? `; ${r.quarantined} quarantined (${Object.entries(r.reasons).map(([k, v]) => `${k} ${v}`).join(', ')}), see ${r.out}/quarantine.jsonl` : ''}`,
  ];
  const c = r.counters;
  if (c.requests !== undefined) lines.push(`  requests: ${c.requests} sent, ${c.cached ?? 0} answered from the cache, ${c.failed ?? 0} failed`);
  if (r.resumedParts > 0) lines.push(`  ${r.resumedParts} part(s) kept from an earlier run`);
  lines.push(`  ${r.seconds.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const cmd = program
    .command('score')
    .description('difficulty of each row from G rollouts of a checkpoint or an OpenAI-compatible endpoint: mIoU, weight phi(mIoU), bucket (RlRow shards)')
    .addHelpText(
      'after',
      `
The accuracy of a rollout is UniVG-R1's accuracy reward (the IoU of the <answer> box in 0-1000 of the target
image); difficulty = mean over the G rollouts (mIoU: high = easy), weight = phi(mIoU) (exp: e^(1 - mIoU)),
bucket = lt0.3 | 0.3-0.7 | gt0.7. A killed run continues where it stopped when run again; endpoint answers
are cached (--cache-dir), so nothing already answered is requested twice. The API key is read from the
variable named by --api-key-env (default OPENAI_API_KEY), never from a flag.

Examples:
  univg score --data runs/demo/corpus/rl --data-root runs/demo --out runs/demo/scored --checkpoint runs/demo/train/sft
  univg score --data corpus/rl --data-root . --out scored --endpoint http://localhost:8000/v1 --model univg-sft-7b --g 8
  univg score --data corpus/rl --data-root . --out hard --checkpoint sft --keep hard,medium --order hardest-first

Every setting is also a key of a pipeline's train.score section, with the same default.`,
    );
  SCORE_FLAGS.addTo(cmd)
    .option('--json', 'print the result as JSON')
    .action(
      action(async (f: Record<string, unknown>) => {
        const o = scoreOptions(f);
        const { scoreCorpus } = await import('../../train/score/score.js');
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let last = 0;
        try {
          const r = await scoreCorpus({
            ...o,
            signal: ac.signal,
            log: (l) => process.stderr.write(`univg ${l}\n`),
            progress: (done, total) => {
              const now = Date.now();
              if (done === total || now - last > 5000) {
                last = now;
                process.stderr.write(`univg score: ${done}/${total ?? '?'} rows\n`);
              }
            },
          });
          process.stdout.write(f.json ? `${JSON.stringify(r)}\n` : summary(r));
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
