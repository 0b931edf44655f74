/**
 * The run directory: where each stage's outputs, state and quarantine live. Progress is read from the
 * filesystem (part files and manifests), never from a status file that could disagree with it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/fsutil.js';
import { MANIFEST_NAME } from '../store/manifest.js';
import { parseShardFileName, shardFileName } from '../store/names.js';
import type { Stage, StageOutput } from '../stages/stage.js';

/** Written when a stage starts: what shaped its output. A mismatch on a later run means stale. */
export interface StageState {
  stage: string;
  settingsHash: string;
  /** sha256 of each input stage's manifest (or done file), by stage name. */
  inputs: Record<string, string>;
  tasks: number;
}

export class RunDir {
  constructor(readonly root: string) {}

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  ensure(): void {
    mkdirSync(this.root, { recursive: true });
  }

  outputDir(o: StageOutput): string {
    return this.path(o.dir);
  }

  partPath(o: StageOutput, index: number, count: number): string {
    return join(this.outputDir(o), shardFileName(index, count));
  }

  manifestPath(o: StageOutput): string {
    return join(this.outputDir(o), MANIFEST_NAME);
  }

  stateFile(stage: string): string {
    return this.path('_stages', `${stage}.json`);
  }

  readState(stage: string): StageState | null {
    const f = this.stateFile(stage);
    if (!existsSync(f)) return null;
    return JSON.parse(readFileSync(f, 'utf8')) as StageState;
  }

  async writeState(state: StageState): Promise<void> {
    mkdirSync(this.path('_stages'), { recursive: true });
    await writeFileAtomic(this.stateFile(state.stage), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** A task is done when every output's part file for it exists. */
  taskDone(stage: Stage, index: number, count: number): boolean {
    if (stage.outputs.length === 0) return this.stageDone(stage);
    return stage.outputs.every((o) => existsSync(this.partPath(o, index, count)));
  }

  /** A stage is done when every output's manifest (or its done file) exists. */
  stageDone(stage: Stage): boolean {
    if (stage.outputs.length === 0) return stage.doneFile !== undefined && existsSync(this.path(stage.doneFile));
    return stage.outputs.every((o) => existsSync(this.manifestPath(o)));
  }

  /** Part indices present for an output (with the count their names declare). */
  partsPresent(o: StageOutput): { index: number; count: number }[] {
    const dir = this.outputDir(o);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((f) => parseShardFileName(f))
      .filter((p): p is NonNullable<typeof p> => p !== null)
      .map(({ index, count }) => ({ index, count }));
  }

  /** Remove everything a stage wrote, so `--force` redoes it from scratch. */
  clearStage(stage: Stage): void {
    for (const o of stage.outputs) rmSync(this.outputDir(o), { recursive: true, force: true });
    if (stage.doneFile) rmSync(this.path(stage.doneFile), { force: true });
    if (stage.workDir) rmSync(this.path(stage.workDir), { recursive: true, force: true });
    rmSync(this.stateFile(stage.name), { force: true });
    // Its quarantine files and the records of tasks that failed (src/pipeline/failures.ts).
    for (const dir of [this.path('quarantine'), this.path('_failed')]) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) if (f === `${stage.name}.jsonl` || f.startsWith(`${stage.name}-`)) rmSync(join(dir, f), { force: true });
    }
  }

  /** Every quarantine file a stage wrote (one per task for partitioned stages). */
  quarantineFiles(stage: string): string[] {
    const qdir = this.path('quarantine');
    if (!existsSync(qdir)) return [];
    return readdirSync(qdir)
      .filter((f) => (f === `${stage}.jsonl` || f.startsWith(`${stage}-`)) && f.endsWith('.jsonl'))
      .sort()
      .map((f) => join(qdir, f));
  }
}
