/** The select stage: best passing candidate per sample, split into SFT and RL pools. */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { removalsFromFile } from '../audit/apply.js';
import { ConfigError, InputError } from '../errors.js';
import type { PipelineConfig } from '../schema/config.js';
import type { GroundingSample, HfImage, RlRow, SftRow, TeacherCandidate, Verdict } from '../schema/records.js';
import { JsonlWriter } from '../sources/jsonl-writer.js';
import type { ImageStore } from '../store/images.js';
import { shardFileName } from '../store/names.js';
import { resolveEndpoint } from '../teacher/client.js';
import { ImagePreparer } from '../teacher/images.js';
import { mapOrdered } from '../async/map-ordered.js';
import { JUDGE_MAX_TOKENS, JUDGE_PROMPT_VERSION, judgeSample, type JudgeOptions, type JudgeOutcome } from './judge.js';
import { joinBySample } from './join.js';
import { selectForSample, toRlRow, toSftRow } from './select.js';
import type { Stage, TaskContext } from './stage.js';

/** Where each task's judge outcomes go (one JSON line per judged sample), relative to the run dir. */
export const JUDGE_LOG_DIR = 'judge';

/** Training images: embedded bytes, or a path into the run's image store (relative to the run dir). */
async function hfImages(sample: GroundingSample, images: ImageStore, runDir: string, embed: boolean): Promise<HfImage[]> {
  const out: HfImage[] = [];
  for (const img of sample.images) {
    const located = await images.locate(img.sha256);
    const rel = located ? located.slice(runDir.length).replace(/^[\\/]+/, '') : img.path;
    out.push({ bytes: embed && located ? new Uint8Array(await readFile(located)) : null, path: rel });
  }
  return out;
}

/**
 * Audit labels applied to the corpus: in the settings only when the pipeline names a labels file (old runs
 * stay fresh); the file's contents are an external input, so a new export marks select stale.
 */
function auditSettings(c: PipelineConfig) {
  if (!c.audit.labels) return {};
  return { audit: { remove: c.audit.remove, removeFlagged: c.audit.removeFlagged } };
}

/** What shapes the judge's answers: in the stage settings only when the judge is on (old runs stay fresh). */
function judgeSettings(c: PipelineConfig) {
  if (!c.select.judge) return {};
  return { judge: { model: c.select.judgeModel ?? c.teacher?.model ?? null, promptVersion: JUDGE_PROMPT_VERSION, maxTokens: JUDGE_MAX_TOKENS, minPixels: c.teacher?.minPixels ?? null, maxPixels: c.teacher?.maxPixels ?? null } };
}

async function openJudge(ctx: TaskContext): Promise<{ opts: JudgeOptions; width: number }> {
  const teacher = await ctx.services.teacher();
  const t = teacher.config;
  return {
    opts: {
      teacher: t,
      ...(ctx.config.select.judgeModel ? { model: ctx.config.select.judgeModel } : {}),
      client: teacher.client,
      cache: teacher.cache,
      images: new ImagePreparer({ loader: (sha) => ctx.services.images.get(sha), minPixels: t.minPixels, maxPixels: t.maxPixels, maxBytes: t.imageCacheBytes }),
      signal: ctx.signal,
    },
    // Enough samples in flight to keep the client's concurrency busy; rows still come out in order.
    width: Math.max(4, t.concurrency * 2),
  };
}

export const selectStage: Stage = {
  name: 'select',
  description: 'pick the best passing candidate per sample (optionally asking a judge LLM) and split the selection into SFT and RL pools',
  inputs: ['ingest', 'generate', 'verify'],
  outputs: [
    { name: 'sft', dir: 'corpus/sft', kind: 'SftRow' },
    { name: 'rl', dir: 'corpus/rl', kind: 'RlRow' },
  ],
  mode: 'partitioned',
  settings: (c) => ({ select: c.select, seed: c.seed, embedImages: c.shards.embedImages, ...judgeSettings(c), ...auditSettings(c) }),
  externalInputs: (c) => (c.audit.labels ? [{ name: 'audit labels', file: c.audit.labels }] : []),
  summary: (t) => (t.auditLabels === undefined ? null : `audit labels (${t.auditLabels / Math.max(1, t.auditTasks ?? 1)} decisions) removed ${t.auditRemoved ?? 0} samples from the corpus (listed in quarantine/ as audit_rejected)`),
  preflight(c) {
    if (c.audit.labels && !existsSync(c.audit.labels))
      throw new InputError('audit.labels names a file that does not exist: write it with `univg audit export RUN_DIR --out FILE`', { file: c.audit.labels, field: 'audit.labels' });
    if (!c.select.judge) return;
    if (!c.teacher) throw new ConfigError('select.judge asks the teacher endpoint to judge, but the pipeline has no teacher section', { field: 'select.judge' });
    if (!c.teacher.simulated) resolveEndpoint(c.teacher, process.env);
  },
  async runTask(ctx) {
    const sft = ctx.output<SftRow>('sft');
    const rl = ctx.output<RlRow>('rl');
    const { seed, select } = ctx.config;
    const logPath = join(ctx.runDir, JUDGE_LOG_DIR, shardFileName(ctx.task.index, ctx.task.count).replace(/\.parquet$/, '.jsonl'));
    // A log from an earlier run with the judge on must not outlive a re-run without it.
    if (!select.judge) await rm(logPath, { force: true });
    const judge = select.judge ? await openJudge(ctx) : null;
    let log: JsonlWriter | null = null;
    if (judge) {
      await mkdir(join(ctx.runDir, JUDGE_LOG_DIR), { recursive: true });
      log = await JsonlWriter.create(logPath);
    }
    const counts = { judged: 0, cached: 0, fallback: 0 };
    const audit = ctx.config.audit.labels ? await removalsFromFile(ctx.config.audit.labels, ctx.config.audit) : null;
    if (audit) ctx.tally({ auditLabels: audit.labels, auditTasks: 1 });
    try {
      const joined = joinBySample<GroundingSample, { candidates: TeacherCandidate[]; verdicts: Verdict[] }>(ctx.read<GroundingSample>('ingest'), {
        candidates: ctx.read<TeacherCandidate>('generate'),
        verdicts: ctx.read<Verdict>('verify'),
      });
      const decided = mapOrdered(joined, judge ? judge.width : 1, async ({ sample, candidates, verdicts }) => {
        let sel = selectForSample(sample, candidates, verdicts, seed, select);
        let outcome: JudgeOutcome | null = null;
        // RL rows carry no chain, so only SFT samples are worth a judge request.
        if (judge && sel?.pool === 'sft') {
          outcome = await judgeSample(sample, candidates, verdicts, judge.opts);
          if (outcome) sel = selectForSample(sample, candidates, verdicts, seed, select, outcome.chosen);
        }
        return { sample, sel, outcome };
      });
      for await (const { sample, sel, outcome } of decided) {
        if (outcome && log) {
          await log.write(outcome);
          counts.judged++;
          if (outcome.cached) counts.cached++;
          if (outcome.source === 'fallback') counts.fallback++;
          ctx.progress.note({ judged: counts.judged, 'judge fallbacks': counts.fallback });
        }
        const removal = audit?.removed.get(sample.id);
        if (sel && removal) {
          await ctx.quarantine({ recordId: sample.id, file: ctx.config.audit.labels ?? null, row: null, field: null, reason: 'audit_rejected', detail: removal.detail });
          ctx.tally({ auditRemoved: 1 });
        } else if (sel) {
          const images = await hfImages(sample, ctx.services.images, ctx.runDir, ctx.config.shards.embedImages);
          if (sel.pool === 'sft') await sft.write(toSftRow(sample, sel.candidate, sel.verdict, images, select));
          else await rl.write(toRlRow(sample, images, select));
        }
        ctx.progress.advance();
      }
      await log?.commit();
    } catch (err) {
      await log?.abort();
      throw err;
    }
    if (judge && counts.judged > 0) {
      const rel = logPath.slice(ctx.runDir.length).replace(/^[\\/]+/, '');
      ctx.log(`judge chose among the passing candidates of ${counts.judged} samples (${counts.cached} from the cache); ${counts.fallback} fell back to the deterministic order (see ${rel})`);
    }
  },
};
