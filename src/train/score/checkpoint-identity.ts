/**
 * What identifies a checkpoint's rollouts for resume: its resolved directory, step and weights hash
 * (from state.json), read without building the model, so a finished score run can say "done" cheaply.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { resolveCheckpointDir } from '../checkpoint.js';

export interface CheckpointIdentity {
  checkpoint: string;
  step: number;
  weights: string;
  [key: string]: string | number | null;
}

export async function checkpointIdentity(dirOrOut: string): Promise<CheckpointIdentity> {
  const dir = await resolveCheckpointDir(dirOrOut);
  const file = join(dir, 'state.json');
  let state: { step?: unknown; weights?: { sha256?: unknown } };
  try {
    state = JSON.parse(await readFile(file, 'utf8')) as typeof state;
  } catch (err) {
    throw new InputError(`cannot read the checkpoint state: ${(err as Error).message}`, { file }, { cause: err });
  }
  if (typeof state.step !== 'number' || typeof state.weights?.sha256 !== 'string') throw new InputError('not a univg checkpoint state (no step or weights hash)', { file });
  return { checkpoint: dir, step: state.step, weights: state.weights.sha256 };
}
