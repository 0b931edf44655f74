/**
 * Pieces shared by the readers of trainer files (VLM-R1 JSON lines, LLaMA-Factory sharegpt): the
 * question without univg's own instruction, and the GroundTruth univg export keeps beside each row.
 */
import { COT_INSTRUCTION } from '../../completion/prompt.js';
import { GroundTruth } from '../../schema/records.js';
import { isObject, stripPlaceholders } from './common.js';

/** The question of a training prompt: placeholders removed, and univg's CoT instruction when it ends it. */
export function questionOf(prompt: string): string {
  const q = stripPlaceholders(prompt);
  return q.endsWith(COT_INSTRUCTION) ? q.slice(0, -COT_INSTRUCTION.length).trim() : q;
}

/** The GroundTruth univg export wrote for a row (an object or its JSON text); null when absent or not one. */
export function exportedTruth(v: unknown): GroundTruth | null {
  let x = v;
  if (typeof x === 'string') {
    try {
      x = JSON.parse(x);
    } catch {
      return null;
    }
  }
  if (!isObject(x)) return null;
  const picked = Object.fromEntries(Object.keys(GroundTruth.shape).map((k) => [k, x[k]]));
  const r = GroundTruth.safeParse(picked);
  return r.success ? r.data : null;
}
