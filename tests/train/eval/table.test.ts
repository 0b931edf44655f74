/** The terminal table and the HTML fragment: paper layout (tasks as columns, AVG last), everything escaped. */
import { describe, expect, it } from 'vitest';
import { aggregate, formatEvalTable, renderEvalTable, scoreCompletion } from '../../../src/train/eval/index.js';
import type { GroundingSample } from '../../../src/schema/records.js';

function sample(id: string, task: string): GroundingSample {
  return {
    id,
    source: 'test',
    task,
    images: [{ sha256: 'b'.repeat(64), path: 'x.png', width: 100, height: 100 }],
    question: 'q',
    context: [],
    targetImage: 0,
    targetBox: [0, 0, 50, 50],
    difficulty: null,
    split: null,
    meta: {},
  };
}

const hit = '<think>t</think><answer>(0,0),(500,500)</answer>';
const miss = '<think>t</think><answer>(600,600),(900,900)</answer>';

const metrics = aggregate([
  scoreCompletion(sample('a', 'correspondence'), hit, 'qwen2vl'),
  scoreCompletion(sample('b', 'diff'), hit, 'qwen2vl'),
  scoreCompletion(sample('c', 'diff'), miss, 'qwen2vl'),
  scoreCompletion(sample('d', '<img src=x onerror=alert(1)>&"'), miss, 'qwen2vl'),
]);

describe('formatEvalTable', () => {
  it('puts tasks as columns in paper order with their paper names, AVG last, percent with two decimals', () => {
    const t = formatEvalTable(metrics);
    const [header, n, acc05] = t.split('\n');
    expect(header!.trim().split(/\s+/)).toEqual(['Static', 'Co-Re', '<img', 'src=x', 'onerror=alert(1)>&"', 'AVG']);
    expect(n!.trim().split(/\s+/)).toEqual(['n', '2', '1', '1', '4']);
    // Static 1/2, Co-Re 1/1, the odd task 0/1: AVG = (50 + 100 + 0) / 3.
    expect(acc05!.trim().split(/\s+/)).toEqual(['Acc@0.5', '50.00', '100.00', '0.00', '50.00']);
  });
});

describe('renderEvalTable', () => {
  it('is a table fragment with every text escaped', () => {
    const h = renderEvalTable(metrics, { caption: 'run <1> & "x"' });
    expect(h.startsWith('<table class="univg-eval">')).toBe(true);
    expect(h).not.toContain('<img');
    expect(h).toContain('&lt;img src=x onerror=alert(1)&gt;&amp;&quot;');
    expect(h).toContain('<caption>run &lt;1&gt; &amp; &quot;x&quot;</caption>');
    const heads = [...h.matchAll(/<th scope="col"[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]);
    expect(heads).toEqual(['Static', 'Co-Re', '&lt;img src=x onerror=alert(1)&gt;&amp;&quot;', 'AVG']);
    expect(h).toMatch(/<tr><th scope="row">Acc@0\.5<\/th><td>50\.00<\/td><td>100\.00<\/td><td>0\.00<\/td><td class="avg">50\.00<\/td><\/tr>/);
    expect(h).toMatch(/<th scope="row">Acc@0\.5 paper scorer<\/th>/);
  });
});
