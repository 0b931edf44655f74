import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { isTempFileName, parseShardFileName, shardFileName, stableTaskOf } from '../../src/store/index.js';

describe('stableTaskOf', () => {
  it('matches the documented formula: first 8 bytes of sha256(utf-8 id), big-endian, mod n', () => {
    // Golden values computed independently with Python:
    //   int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], 'big') % n
    expect(stableTaskOf('sample-0000001', 16)).toBe(8);
    expect(stableTaskOf('abc', 4)).toBe(2);
    expect(stableTaskOf('', 7)).toBe(1);
    expect(stableTaskOf('héllo wörld', 1000)).toBe(791);
    expect(stableTaskOf('mgrounding/123', 3)).toBe(1);
    expect(stableTaskOf('anything', 1)).toBe(0);
  });

  it('spreads ids roughly evenly', () => {
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[stableTaskOf(`id-${i}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });

  it('rejects a bad task count', () => {
    expect(() => stableTaskOf('x', 0)).toThrow(ConfigError);
    expect(() => stableTaskOf('x', 1.5)).toThrow(ConfigError);
  });
});

describe('shard file names', () => {
  it('follow {prefix}-{i:05d}-of-{n:05d}.parquet and parse back', () => {
    expect(shardFileName(3, 16)).toBe('part-00003-of-00016.parquet');
    expect(shardFileName(0, 1, 'train')).toBe('train-00000-of-00001.parquet');
    expect(parseShardFileName('train-00012-of-00016.parquet')).toEqual({ prefix: 'train', index: 12, count: 16 });
    expect(parseShardFileName('part-00016-of-00016.parquet')).toBeNull();
    expect(parseShardFileName('notes.parquet')).toBeNull();
  });

  it('refuse out-of-range indexes and unsafe prefixes', () => {
    expect(() => shardFileName(4, 4)).toThrow(ConfigError);
    expect(() => shardFileName(0, 100_000)).toThrow(ConfigError);
    expect(() => shardFileName(0, 2, '../x')).toThrow(ConfigError);
    expect(() => shardFileName(0, 2, 'a-of-b')).toThrow(ConfigError);
  });

  it('temp names are hidden and never end in .parquet', () => {
    expect(isTempFileName('.part-00000-of-00001.parquet.12-0.tmp')).toBe(true);
    expect(isTempFileName('part-00000-of-00001.parquet')).toBe(false);
  });
});
