/**
 * A label writer in its own process, for the crash and concurrency tests: appends `count` decisions to
 * the run's label log and prints each id once the store says it is durable.
 *
 *   node --import tsx tests/audit/label-writer.ts RUN_DIR AUDITOR COUNT [GO_FILE]
 *
 * With GO_FILE it prints "ready" and waits for that file to exist, so several writers start together.
 */
import { existsSync } from 'node:fs';
import { LabelLog } from '../../src/audit/labels.js';

const [runDir, auditor, count, go] = process.argv.slice(2) as [string, string, string, string | undefined];
const log = new LabelLog(runDir);
if (go) {
  process.stdout.write('ready\n');
  while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
}
for (let i = 0; i < Number(count); i++) {
  const l = await log.append({ sampleId: `s-${i % 50}`, candidateIndex: i % 3, auditor, decision: i % 5 === 0 ? 'reject' : 'accept', reason: i % 5 === 0 ? 'wrong_box' : null, note: `note ${i} of ${auditor}`, undoes: null });
  process.stdout.write(`${l.id} ${i}\n`);
}
await log.close();
