// Every CLI command module; each exports `register(program)`. One line per command group.
import type { Command } from 'commander';
import * as audit from './audit.js';
import * as evaluate from './eval.js';
import * as exporter from './export.js';
import * as ingest from './ingest.js';
import * as report from './report.js';
import * as run from './run.js';
import * as score from './score.js';
import * as shards from './shards.js';
import * as synth from './synth.js';
import * as teacher from './teacher.js';
import * as train from './train.js';
import * as worker from './worker.js';

export const COMMANDS: ReadonlyArray<{ register(program: Command): void }> = [run, ingest, synth, teacher, shards, report, evaluate, train, score, audit, exporter, worker];
