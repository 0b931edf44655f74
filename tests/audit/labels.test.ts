/**
 * The label store (issue 14): every decision is durable before it is confirmed, survives its writer being
 * killed, several processes append at once without losing each other's records, a torn or damaged record
 * costs only itself, and the latest decision per auditor wins while the history stays.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LABEL_LOG, LabelLog, encodeRecord, latestDecisions, readAllLabels, readLabels, type NewLabel } from '../../src/audit/labels.js';
import { RecordError } from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'univg-labels-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const runDir = () => join(tmp, `run-${n++}`);

const label = (over: Partial<NewLabel> = {}): NewLabel => ({ sampleId: 's-1', candidateIndex: 0, auditor: 'ana', decision: 'accept', reason: null, note: '', undoes: null, ...over });

describe('the label log', () => {
  it('reads back what was appended, in order, with positions; the latest decision per auditor wins and clear withdraws it', async () => {
    const dir = runDir();
    const log = new LabelLog(dir);
    await log.append(label({ decision: 'reject', reason: 'wrong_box' }));
    await log.append(label({ auditor: 'bo', decision: 'flag', note: 'unsure <b>' }));
    const third = await log.append(label({ decision: 'accept', note: 'second look' }));
    await log.append(label({ sampleId: 's-2', decision: 'reject' }));
    await log.append(label({ sampleId: 's-2', decision: 'clear', undoes: 'x' }));
    await log.close();
    const { labels, skipped } = await readAllLabels(join(dir, LABEL_LOG));
    expect(skipped).toEqual([]);
    expect(labels.map((l) => [l.seq, l.sampleId, l.auditor, l.decision])).toEqual([
      [0, 's-1', 'ana', 'reject'],
      [1, 's-1', 'bo', 'flag'],
      [2, 's-1', 'ana', 'accept'],
      [3, 's-2', 'ana', 'reject'],
      [4, 's-2', 'ana', 'clear'],
    ]);
    expect(labels[1]!.note).toBe('unsure <b>');
    expect(labels[2]!.id).toBe(third.id);
    expect(Date.parse(labels[0]!.time)).toBeGreaterThan(0);
    const latest = latestDecisions(labels);
    expect([...latest.values()].map((l) => [l.sampleId, l.auditor, l.decision]).sort()).toEqual([
      ['s-1', 'ana', 'accept'],
      ['s-1', 'bo', 'flag'],
    ]);
  });

  it('refuses a bad decision before writing anything', async () => {
    const dir = runDir();
    const log = new LabelLog(dir);
    await expect(log.append(label({ auditor: 'no spaces allowed' }))).rejects.toThrow(RecordError);
    await expect(log.append(label({ note: 'x'.repeat(2001) }))).rejects.toThrow(/note|2000/);
    await expect(log.append(label({ decision: 'maybe' as never }))).rejects.toThrow(RecordError);
    expect(await log.size()).toBe(0);
    // The writer is still usable after a refusal.
    await log.append(label());
    await log.close();
    expect((await readAllLabels(log.file)).labels).toHaveLength(1);
  });

  it('a torn last record (its writer was killed) is skipped, and records written after it are whole', async () => {
    const dir = runDir();
    const log = new LabelLog(dir);
    await log.append(label({ note: 'before the crash' }));
    await log.close();
    const whole = encodeRecord({ id: 'torn', time: new Date().toISOString(), ...label({ note: 'never finished' }) });
    appendFileSync(log.file, whole.subarray(0, whole.length - 17));
    let r = await readAllLabels(log.file);
    expect(r.labels.map((l) => l.note)).toEqual(['before the crash']);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]!.problem).toMatch(/incomplete/);
    const again = new LabelLog(dir);
    await again.append(label({ note: 'after the crash' }));
    await again.close();
    r = await readAllLabels(log.file);
    expect(r.labels.map((l) => [l.seq, l.note])).toEqual([
      [0, 'before the crash'],
      [1, 'after the crash'],
    ]);
    expect(r.skipped.map((s) => s.problem)).toEqual(['checksum does not match (torn or damaged record)']);
  });

  it('a damaged record in the middle, garbage and an over-long line cost only themselves', async () => {
    const dir = runDir();
    const log = new LabelLog(dir);
    for (const note of ['a', 'b', 'c']) await log.append(label({ note }));
    await log.close();
    const bytes = readFileSync(log.file);
    const at = bytes.indexOf('"note":"b"') + 8;
    bytes[at] = 'B'.charCodeAt(0);
    writeFileSync(log.file, Buffer.concat([bytes, Buffer.from('\nnot a record at all\n'), Buffer.alloc(70_000, 0x41)]));
    const again = new LabelLog(dir);
    await again.append(label({ note: 'd' }));
    await again.close();
    const r = await readAllLabels(log.file);
    expect(r.labels.map((l) => l.note)).toEqual(['a', 'c', 'd']);
    expect(r.skipped.map((s) => s.problem)).toEqual(['checksum does not match (torn or damaged record)', 'not a record (no checksum)', 'line longer than 65536 bytes']);
  });

  it('a tailing reader picks up new records from where it stopped and waits for a record being written', async () => {
    const dir = runDir();
    const log = new LabelLog(dir);
    await log.append(label({ note: 'one' }));
    let r = await readLabels(log.file);
    expect(r.labels.map((l) => l.note)).toEqual(['one']);
    await log.append(label({ note: 'two' }));
    await log.close();
    r = await readLabels(log.file, r.next);
    expect(r.labels.map((l) => [l.seq, l.note])).toEqual([[1, 'two']]);
    // Half a record: another process is writing it right now.
    const rec = encodeRecord({ id: 'slow', time: new Date().toISOString(), ...label({ note: 'three' }) });
    appendFileSync(log.file, rec.subarray(0, 30));
    const mid = await readLabels(log.file, r.next);
    expect(mid.labels).toEqual([]);
    expect(mid.skipped).toEqual([]);
    expect(mid.pendingBytes).toBe(29);
    appendFileSync(log.file, rec.subarray(30));
    r = await readLabels(log.file, mid.next);
    expect(r.labels.map((l) => [l.seq, l.note, l.id])).toEqual([[2, 'three', 'slow']]);
    expect(r.pendingBytes).toBe(0);
  });

  it('a write the disk refuses is an error, never a confirmation; a log that is not a file is named', async () => {
    const dir = runDir();
    mkdirSync(join(dir, 'audit'), { recursive: true });
    // /dev/full takes the open and refuses every write with ENOSPC, as a full disk does.
    symlinkSync('/dev/full', join(dir, LABEL_LOG));
    const log = new LabelLog(dir);
    await expect(log.append(label())).rejects.toThrow(/^cannot write the label log \(the decision was not saved\): .*ENOSPC/);
    await expect(log.append(label())).rejects.toThrow(/ENOSPC/);
    await log.close();
    await expect(readAllLabels(join(dir, LABEL_LOG))).rejects.toThrow(/not a regular file/);
  });

  it('an absent log reads as empty', async () => {
    expect(await readAllLabels(join(runDir(), LABEL_LOG))).toEqual({ labels: [], skipped: [] });
  });
});

/** Run the writer script; resolves with the ids it confirmed (and whether it was killed). */
function writer(dir: string, auditor: string, count: number, o: { killAfter?: number; go?: string; ready?: () => void } = {}): Promise<{ confirmed: string[]; signal: NodeJS.Signals | null }> {
  const { killAfter } = o;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'tests', 'audit', 'label-writer.ts'), dir, auditor, String(count), ...(o.go ? [o.go] : [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const confirmed: string[] = [];
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (l === 'ready') {
          o.ready?.();
          continue;
        }
        confirmed.push(l.split(' ')[0]!);
        if (killAfter !== undefined && confirmed.length === killAfter) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGKILL' ? resolve({ confirmed, signal }) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe('writers in other processes', () => {
  it('a writer killed with SIGKILL loses no decision it confirmed, and the log stays readable', async () => {
    const dir = runDir();
    const confirmedAll: string[] = [];
    // Kill at different points: the moment of the kill lands before, during or after a write.
    for (const killAfter of [1, 37, 113]) {
      const { confirmed, signal } = await writer(dir, `k${killAfter}`, 100_000, { killAfter });
      expect(signal).toBe('SIGKILL');
      confirmedAll.push(...confirmed);
    }
    const { labels } = await readAllLabels(join(dir, LABEL_LOG));
    const ids = new Set(labels.map((l) => l.id));
    expect(confirmedAll.filter((id) => !ids.has(id))).toEqual([]);
    // A writer started after the kills appends cleanly behind whatever the last one left.
    const after = await writer(dir, 'after', 5);
    const again = await readAllLabels(join(dir, LABEL_LOG));
    expect(again.labels.slice(-5).map((l) => l.id)).toEqual(after.confirmed);
    expect(again.labels.map((l) => l.seq)).toEqual(again.labels.map((_, i) => i));
  }, 120_000);

  it('four processes appending at once keep every record whole, each in its own order', async () => {
    const dir = runDir();
    const go = join(tmp, `go-${n}`);
    let ready = 0;
    const results = await Promise.all(
      ['w0', 'w1', 'w2', 'w3'].map((a) =>
        writer(dir, a, 150, {
          go,
          // Release them together once all four are loaded, so their appends really overlap.
          ready: () => {
            if (++ready === 4) writeFileSync(go, '');
          },
        }),
      ),
    );
    const { labels, skipped } = await readAllLabels(join(dir, LABEL_LOG));
    expect(skipped).toEqual([]);
    expect(labels).toHaveLength(600);
    for (const [i, r] of results.entries()) {
      expect(labels.filter((l) => l.auditor === `w${i}`).map((l) => l.id)).toEqual(r.confirmed);
    }
    // They really overlapped: the log is not four blocks one after another.
    const switches = labels.filter((l, i) => i > 0 && l.auditor !== labels[i - 1]!.auditor).length;
    expect(switches).toBeGreaterThan(3);
  }, 120_000);
});
