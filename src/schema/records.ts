/**
 * Every record kind the pipeline stores, declared once. TypeScript types, Arrow schemas and the JSON
 * Schemas in `schemas/` are all derived from these definitions.
 *
 * Conventions (DESIGN.md): a box is `[x1, y1, x2, y2]` in pixels of the original image, floats,
 * x1 < x2 and y1 < y2, always stored next to that image's width and height.
 */
import { z } from 'zod';

/** 64 lowercase hex characters: the SHA-256 of an image file's bytes. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (sha256)');

/** A canonical box: original-image pixels, xyxy, finite, x1 < x2, y1 < y2. */
export const Box = z
  .tuple([z.number(), z.number(), z.number(), z.number()])
  .refine((b) => b.every(Number.isFinite), { message: 'box coordinates must be finite numbers' })
  .refine((b) => b[0] < b[2] && b[1] < b[3], { message: 'box must satisfy x1 < x2 and y1 < y2' })
  .describe('[x1, y1, x2, y2] in pixels of the original image');
export type Box = z.infer<typeof Box>;

/** Box conventions found at the edges of the system (teachers, models, benchmarks). */
export const BoxConvention = z
  .enum(['pixels', 'qwen2vl', 'qwen25vl', 'norm', 'pixels-xywh', 'qwen2vl-xywh', 'qwen25vl-xywh', 'norm-xywh'])
  .describe(
    'pixels: original-image pixels; qwen2vl: 0-1000 integers; qwen25vl: pixels of the smart-resized image; norm: 0-1 floats; -xywh: [x, y, w, h] layout',
  );
export type BoxConvention = z.infer<typeof BoxConvention>;

/** An image as records carry it: content hash, where it came from, and its size. */
export const ImageRef = z.object({
  sha256: Sha256,
  path: z.string().min(1).describe('original path as given by the source (relative to the image root)'),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type ImageRef = z.infer<typeof ImageRef>;

/** A turn of the conversation that preceded the grounded question (multi-turn MGrounding samples). */
export const Turn = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.string(),
});
export type Turn = z.infer<typeof Turn>;

export const Difficulty = z.enum(['easy', 'medium', 'hard']);
export type Difficulty = z.infer<typeof Difficulty>;

/** Free metadata: JSON values only, stored as a JSON string column in Parquet. */
export const Meta = z.record(z.string(), z.json()).default({});

/** One grounding question over one or more images, with its ground truth. */
export const GroundingSample = z.object({
  id: z.string().min(1),
  source: z.string().min(1).describe('mgrounding | migbench | synthetic | ...'),
  task: z.string().min(1).describe('task key, e.g. common_object, diff, refer_grounding'),
  images: z.array(ImageRef).min(1),
  question: z.string().min(1).describe('the question text, without <image> placeholders'),
  context: z.array(Turn).default([]).describe('earlier turns of the original conversation, oldest first'),
  targetImage: z.number().int().nonnegative().describe('index into images of the image that holds the target'),
  targetBox: Box.describe('ground-truth box in pixels of images[targetImage]'),
  difficulty: Difficulty.nullable().default(null),
  split: z.string().nullable().default(null).describe('train | test | ... where the source says'),
  meta: Meta,
});
export type GroundingSample = z.infer<typeof GroundingSample>;

export const PromptMode = z.enum(['hinted', 'blind']);
export type PromptMode = z.infer<typeof PromptMode>;

/** The size of an image as the teacher saw it (after resizing), needed to convert its boxes back. */
export const SeenSize = z.object({ width: z.number().int().positive(), height: z.number().int().positive() });

/** One teacher completion (or a failure after the last retry) for one sample. */
export const TeacherCandidate = z.object({
  sampleId: z.string().min(1),
  candidateIndex: z.number().int().nonnegative(),
  requestHash: z.string().min(1).describe('sha256 of the canonical request; the response cache key'),
  model: z.string(),
  promptVersion: z.string(),
  promptMode: PromptMode,
  convention: BoxConvention.describe('box convention the teacher was asked to answer in'),
  seenSizes: z.array(SeenSize).describe('size of each image as sent to the teacher'),
  completion: z.string().nullable(),
  finishReason: z.string().nullable(),
  error: z.string().nullable().describe('last error after every retry failed; null when answered'),
  promptTokens: z.number().int().nonnegative().nullable(),
  completionTokens: z.number().int().nonnegative().nullable(),
  costUsd: z.number().nonnegative(),
  latencyMs: z.number().nonnegative(),
  attempts: z.number().int().nonnegative(),
  cached: z.boolean().describe('served from the response cache (no request was made this run)'),
});
export type TeacherCandidate = z.infer<typeof TeacherCandidate>;

/** Reason codes a verdict can carry, in the order the verifier runs its checks (src/stages/verify.ts). */
export const VERDICT_REASONS = [
  'request_failed',
  'refusal',
  'truncated',
  'format',
  'answer_unparsable',
  'answer_out_of_range',
  'iou_below_threshold',
  'think_answer_disagree',
  'target_image_not_named',
  'hint_leak',
  'think_too_short',
  'think_too_long',
  'repetitive',
  'text_after_answer',
] as const;
export type VerdictReason = (typeof VERDICT_REASONS)[number];

/** The verification of one candidate: pass or fail, and every reason. */
export const Verdict = z.object({
  sampleId: z.string().min(1),
  candidateIndex: z.number().int().nonnegative(),
  task: z.string(),
  difficulty: Difficulty.nullable(),
  pass: z.boolean(),
  reasons: z.array(z.string()).describe(`every failed check, as reason codes (${VERDICT_REASONS.join(', ')}); empty when pass`),
  formatReward: z.number().describe("UniVG-R1's format_reward_rec (0 or 1), the answer box read in the teacher's convention"),
  answerBox: Box.nullable().describe('answer box converted to pixels of the target image'),
  iou: z.number().nullable().describe('IoU of answerBox with the ground truth'),
  thinkBoxAgrees: z.boolean().nullable().describe('last box committed in <think> matches the answer; null if none'),
  namesTargetImage: z.boolean().nullable().describe('the think names the right image; null for single-image tasks'),
  completionChars: z.number().int().nonnegative(),
  verifierVersion: z.string(),
});
export type Verdict = z.infer<typeof Verdict>;

/**
 * An image as training shards store it: the Hugging Face `Image` struct, field order `bytes, path`.
 * Either `bytes` is embedded or `path` points into the image store (configuration decides).
 */
export const HfImage = z.object({
  bytes: z.instanceof(Uint8Array).nullable(),
  path: z.string().nullable(),
});
export type HfImage = z.infer<typeof HfImage>;

const trainingRowBase = {
  id: z.string().min(1),
  source: z.string(),
  task: z.string(),
  images: z.array(HfImage).min(1),
  imageSha256: z.array(Sha256),
  imageWidth: z.array(z.number().int().positive()),
  imageHeight: z.array(z.number().int().positive()),
  prompt: z.string().describe('user text with one <image> placeholder per image, in order'),
  targetImage: z.number().int().nonnegative(),
  targetBox: Box.describe('ground truth in pixels of the target image'),
  convention: BoxConvention.describe('convention of boxes in completion / answer text'),
  answer: z.string().describe('ground-truth answer text in the training convention, e.g. (120,45),(560,980)'),
  difficultyLabel: Difficulty.nullable(),
};

/** A supervised fine-tuning row: prompt and the selected chain of thought. */
export const SftRow = z.object({
  ...trainingRowBase,
  completion: z.string().describe('<think>...</think><answer>...</answer> in the training convention'),
  candidateIndex: z.number().int().nonnegative(),
  iou: z.number().nullable(),
});
export type SftRow = z.infer<typeof SftRow>;

/** An RL row: prompt and ground truth, plus difficulty signals filled by scoring. */
export const RlRow = z.object({
  ...trainingRowBase,
  difficulty: z.number().nullable().describe('mean IoU of G rollouts from the scoring model (mIoU)'),
  weight: z.number().nullable().describe('difficulty weight phi(mIoU)'),
  bucket: z.string().nullable().describe('mIoU bucket: lt0.3 | 0.3-0.7 | gt0.7'),
});
export type RlRow = z.infer<typeof RlRow>;

/** A model's answer to one benchmark item, scored. */
export const Prediction = z.object({
  id: z.string().min(1),
  task: z.string(),
  model: z.string(),
  completion: z.string(),
  convention: BoxConvention,
  answerBox: Box.nullable().describe('box from the <answer> block, in pixels of the target image'),
  iou: z.number().nullable(),
  firstBoxIou: z.number().nullable().describe("IoU of the first box anywhere in the text (the paper's scorer)"),
  formatReward: z.number(),
});
export type Prediction = z.infer<typeof Prediction>;

/** A rejected input, kept with the reason (quarantine/<stage>.jsonl). */
export const QuarantineRecord = z.object({
  stage: z.string(),
  recordId: z.string().nullable(),
  file: z.string().nullable(),
  row: z.number().int().nullable(),
  field: z.string().nullable(),
  reason: z.string().describe('reason code, e.g. image_missing, box_inverted'),
  detail: z.string(),
});
export type QuarantineRecord = z.infer<typeof QuarantineRecord>;

/** What an auditor decides about a sample; `clear` withdraws that auditor's earlier decision (undo). */
export const AUDIT_DECISIONS = ['accept', 'reject', 'flag', 'clear'] as const;
export const AuditDecision = z.enum(AUDIT_DECISIONS);
export type AuditDecision = z.infer<typeof AuditDecision>;

/** An auditor's name as labels carry it: letters, digits and `._@-`, up to 64 characters. */
export const AuditorName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'an auditor name is 1-64 letters, digits or . _ @ -, starting with a letter or digit');

/**
 * One decision of one auditor about one sample, as `univg audit` writes it (audit/labels.log) and
 * `univg audit export` hands it on. The log is append-only: a later decision of the same auditor about the
 * same sample replaces the earlier one, and every decision stays in the history.
 */
export const AuditLabel = z.object({
  seq: z.number().int().nonnegative().describe('position in the label log: the order decisions were committed in (later wins)'),
  id: z.string().min(1).describe('unique id of this decision'),
  sampleId: z.string().min(1),
  candidateIndex: z.number().int().nonnegative().nullable().describe('the candidate whose chain was shown when deciding; null: the sample has none'),
  auditor: AuditorName,
  decision: AuditDecision.describe('accept | reject | flag (look again) | clear (withdraws this auditor\'s decision)'),
  reason: z.string().nullable().describe("one of the team's configured reasons (audit.reasons), or null"),
  note: z.string().max(2000).describe('free text; empty when none'),
  time: z.string().describe('when the decision was written, ISO 8601 UTC'),
  undoes: z.string().nullable().describe('id of the decision this one undoes, or null'),
});
export type AuditLabel = z.infer<typeof AuditLabel>;
// ---------------------------------------------------------------------------------------------------
// Export rows

/*
 * The rows `univg export` writes for external trainers, declared once like every record: their Arrow
 * schemas, the Hugging Face `features` metadata and the JSON Schemas in `schemas/` derive from these.
 * Column names are the trainers' own (snake_case where they read them), not ours; what each trainer
 * reads and why is in reference/trainer-formats.md and the README's export section.
 *
 * Every ground-truth box travels with its image's width and height and the convention it is written
 * in (`GroundTruth`, stored as a JSON string: the one form verl, EasyR1, TRL and VLM-R1 all pass to a
 * reward function untouched).
 */

/** A chat message as verl, TRL and LLaMA-Factory read it (struct field order: content, role). */
export const ChatMessage = z.object({
  content: z.string(),
  role: z.enum(['system', 'user', 'assistant']),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

const box4 = z.tuple([z.number(), z.number(), z.number(), z.number()]);

/** What every exported reward plugin reads: the answer box in the model's frame, and how it got there. */
export const GroundTruth = z.strictObject({
  bbox: box4.describe('ground-truth box in `convention`: the frame the model answers in and the reward compares in'),
  convention: BoxConvention.describe('convention of bbox (qwen2vl: 0-1000 integers; qwen25vl: pixels of the model input)'),
  image_w: z.number().int().positive().describe('width of the target image, original pixels'),
  image_h: z.number().int().positive().describe('height of the target image, original pixels'),
  input_w: z.number().int().positive().nullable().describe('width of the model input the trainer resizes the target image to (qwen25vl), else null'),
  input_h: z.number().int().positive().nullable(),
  bbox_px: box4.describe('the same box in original pixels of the target image (the canonical box)'),
  target_image: z.number().int().nonnegative().describe('index of the target image among the row\'s images'),
});
export type GroundTruth = z.infer<typeof GroundTruth>;

/** Beside every exported ground truth: the task, the target image's size and the box convention. */
const besideTruth = {
  task: z.string(),
  image_w: z.number().int().positive().describe('width of the target image, original pixels'),
  image_h: z.number().int().positive().describe('height of the target image, original pixels'),
  convention: BoxConvention.describe('convention of the ground-truth box'),
};

/** Difficulty signals from `univg score` (null when the row was not scored). */
const difficulty = {
  difficulty: z.number().nullable().describe('mIoU of G rollouts of the scoring model (high = easy)'),
  weight: z.number().nullable().describe('phi(mIoU) the scoring run computed'),
  bucket: z.string().nullable().describe('mIoU bucket: lt0.3 | 0.3-0.7 | gt0.7'),
};

/** verl's RLHF row (reference/trainer-formats.md §1.1 and §7). */
export const VerlRow = z.object({
  data_source: z.string().describe('chooses the reward function (data.reward_fn_key)'),
  prompt: z.array(ChatMessage).describe('one user message; one <image> per image, in order'),
  images: z.array(HfImage).min(1),
  ability: z.string(),
  reward_model: z.object({
    ground_truth: z.string().describe('GroundTruth as JSON'),
    style: z.string(),
  }),
  extra_info: z.object({
    index: z.number().int().nonnegative(),
    split: z.string(),
    image_w: z.number().int().positive(),
    image_h: z.number().int().positive(),
    ...difficulty,
    source_id: z.string().describe('univg sample id'),
    convention: BoxConvention.describe('convention of the box in ground_truth'),
    task: z.string(),
    target_image: z.number().int().nonnegative(),
  }),
});
export type VerlRow = z.infer<typeof VerlRow>;

/** EasyR1's row: a plain-string prompt split at <image>; the reward sees only `answer` (§2). */
export const EasyR1Row = z.object({
  id: z.string(),
  problem: z.string().describe('prompt_key: the question with one <image> per image'),
  answer: z.string().describe('answer_key: GroundTruth as JSON (all the reward function is given)'),
  images: z.array(HfImage).min(1),
  ...besideTruth,
  ...difficulty,
});
export type EasyR1Row = z.infer<typeof EasyR1Row>;

/** TRL GRPOTrainer's row: a conversational prompt without <image> tokens; other columns reach the reward functions (§3). */
export const TrlGrpoRow = z.object({
  id: z.string(),
  prompt: z.array(ChatMessage).describe('conversational prompt; TRL inserts one image block per image before the text'),
  images: z.array(HfImage).min(1),
  solution: z.string().describe('GroundTruth as JSON'),
  ...besideTruth,
  ...difficulty,
});
export type TrlGrpoRow = z.infer<typeof TrlGrpoRow>;

/** TRL SFTTrainer's conversational prompt-completion row (§3.5). */
export const TrlSftRow = z.object({
  id: z.string(),
  prompt: z.array(ChatMessage),
  completion: z.array(ChatMessage).describe('the chain of thought, boxes in the model family\'s convention'),
  images: z.array(HfImage).min(1),
  solution: z.string().describe('GroundTruth as JSON'),
  ...besideTruth,
});
export type TrlSftRow = z.infer<typeof TrlSftRow>;

/** What univg keeps beside a JSON row of LLaMA-Factory or VLM-R1 (trainers ignore it; `univg ingest` reads it). */
export const UnivgRowInfo = z.object({
  id: z.string(),
  task: z.string(),
  source: z.string(),
  ...GroundTruth.shape,
  ...difficulty,
});

/** LLaMA-Factory sharegpt row with a messages column and image paths relative to the dataset dir (§4). */
export const LlamaFactoryRow = z.object({
  messages: z.array(ChatMessage).describe('user turn with one <image> per image, assistant turn with the chain of thought'),
  images: z.array(z.string()).min(1).describe('paths relative to media_dir (the export directory)'),
  univg: UnivgRowInfo,
});
export type LlamaFactoryRow = z.infer<typeof LlamaFactoryRow>;

/** VLM-R1's JSONL row (grpo_jsonl.py): image path(s) relative to --image_folders, GT as a pixel box (§5). */
export const VlmR1Row = z.object({
  id: z.string(),
  image: z.array(z.string()).min(1).describe('paths relative to the image folder'),
  conversations: z.array(z.object({ from: z.enum(['human', 'gpt']), value: z.string() })).length(2),
  univg_gt: z.string().describe('GroundTruth as JSON (reaches the reward functions as a dataset column)'),
  image_w: z.number().int().positive(),
  image_h: z.number().int().positive(),
  convention: BoxConvention.describe('convention of the gpt answer box: pixels of the original image'),
  task: z.string(),
  source: z.string(),
  ...difficulty,
});
export type VlmR1Row = z.infer<typeof VlmR1Row>;

/** Every record kind, by the name used for its schema file. */
export const RECORDS = {
  GroundingSample,
  TeacherCandidate,
  Verdict,
  SftRow,
  RlRow,
  Prediction,
  QuarantineRecord,
  AuditLabel,
  VerlRow,
  EasyR1Row,
  TrlGrpoRow,
  TrlSftRow,
  LlamaFactoryRow,
  VlmR1Row,
} as const;
export type RecordKind = keyof typeof RECORDS;
