/** The report's pure pieces: escaping, inline JSON, number formats and the SVG plots' geometry. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeHtml, fmtInt, fmtPct, fmtUsd, html, jsonForScript, raw } from '../../src/charts/html.js';
import { barChart, histogram, lineChart, niceTicks } from '../../src/charts/svg.js';

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('escaping', () => {
  it('html`` escapes every interpolated string, and the text comes back unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = html`<p title="${s}">${s}</p>`.value;
        const inner = out.slice('<p title="'.length, out.length - '</p>'.length);
        const [attr, body] = inner.split('">') as [string, string];
        for (const part of [attr, body]) {
          expect(part).not.toMatch(/[<>"']/);
          expect(unescape(part)).toBe(s);
        }
      }),
    );
  });

  it('keeps SafeHtml as is and joins arrays', () => {
    expect(html`<ul>${['<a>', html`<li>${'&'}</li>`, raw('<b>ok</b>'), null, false, 3]}</ul>`.value).toBe('<ul>&lt;a&gt;<li>&amp;</li><b>ok</b>3</ul>');
    expect(escapeHtml(`<img src=x onerror="a('b')">`)).toBe('&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;');
  });

  it('inline JSON cannot close its script element and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('</script>', '<!--', '<script>', '\u2028', '\u2029', '&amp;', ']]>'), (v, evil) => {
        const value = { v, evil, nested: [evil, { [evil]: evil }] };
        const out = jsonForScript(value);
        expect(out).not.toMatch(/[<>&\u2028\u2029]/);
        expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe('number formats', () => {
  it('are independent of the machine locale', () => {
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(fmtInt(-1000)).toBe('-1,000');
    expect(fmtInt(999)).toBe('999');
    expect(fmtPct(0.41666)).toBe('41.7%');
    expect(fmtPct(null)).toBe('–');
    expect(fmtUsd(0.0131)).toBe('$0.0131');
    expect(fmtUsd(12.345)).toBe('$12.35');
    expect(fmtUsd(12345.6)).toBe('$12,346');
  });
});

describe('svg plots', () => {
  it('niceTicks start at 0, rise in equal round steps and reach the maximum', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), (max) => {
        const t = niceTicks(max);
        expect(t[0]).toBe(0);
        expect(t[t.length - 1]!).toBeGreaterThanOrEqual(max * (1 - 1e-9));
        expect(t.length).toBeLessThanOrEqual(12);
        const step = t[1]! - t[0]!;
        const mantissa = step / 10 ** Math.floor(Math.log10(step));
        expect([1, 2, 5, 10].some((m) => Math.abs(m - mantissa) < 1e-6)).toBe(true);
      }),
    );
  });

  it('bar lengths are proportional to the values', () => {
    const svg = barChart(
      [
        { label: 'a', value: 1 },
        { label: 'b', value: 2 },
        { label: 'c<d>', value: 4 },
      ],
      { title: 't' },
    ).value;
    const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(3);
    expect(widths[1]! / widths[0]!).toBeCloseTo(2, 1);
    expect(widths[2]! / widths[0]!).toBeCloseTo(4, 1);
    expect(svg).toContain('c&lt;d&gt;');
    expect(svg).not.toContain('c<d>');
  });

  it('histogram bar heights are proportional to the counts; empty data says so', () => {
    const svg = histogram(
      [
        { lo: 0, hi: 0.5, count: 3 },
        { lo: 0.5, hi: 1, count: 6 },
      ],
      { title: 'h' },
    ).value;
    const heights = [...svg.matchAll(/<rect [^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(2);
    expect(heights[1]! / heights[0]!).toBeCloseTo(2, 1);
    expect(histogram([{ lo: 0, hi: 1, count: 0 }], { title: 'e' }).value).toContain('no data');
  });

  it('line chart draws one path per series from left to right', () => {
    const svg = lineChart(
      [
        { name: 'x', points: [[0, 0], [1, 1]] },
        { name: 'y', points: [[0, 1], [0.5, 0.5], [1, 0]] },
      ],
      { title: 'l', xDomain: [0, 1], yDomain: [0, 1] },
    ).value;
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(2);
    expect(paths[1]!.match(/[ML]/g)).toHaveLength(3);
    const xs = [...paths[0]!.matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
    expect(xs[1]!).toBeGreaterThan(xs[0]!);
  });
});
