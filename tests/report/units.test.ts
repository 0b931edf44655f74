/** The report's pure pieces: escaping, inline JSON and number formats (the charts: tests/charts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeHtml, fmtInt, fmtPct, fmtUsd, html, jsonForScript, raw } from '../../src/charts/html.js';

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
