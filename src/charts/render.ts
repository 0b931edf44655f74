/**
 * Chart definitions (Vega-Lite specs, see ./charts.ts) to static SVG, in Node, with no browser and no
 * canvas: Vega-Lite compiles the spec, Vega lays it out and its string renderer writes the SVG. Vega is
 * loaded on the first chart, so commands that draw nothing do not pay for it.
 *
 * The SVG is then made fit to inline in a page and to diff: a class and a <title> on the root, the
 * chart's own ids (Vega numbers clip paths from a process-wide counter, which would make the same chart
 * differ between two builds in one process) renamed from a hash of the chart, and each mark's
 * description copied into a <title> child so that hovering a bar or a point shows its value, as the
 * browsers show nothing for aria-label.
 */
import { createHash } from 'node:crypto';
import type { TopLevelSpec } from 'vega-lite';
import { MIME_BUNDLE, SafeHtml, escapeHtml } from './html.js';
import { THEME } from './theme.js';

/** A chart definition: what to draw (a Vega-Lite spec with its data inline) and what to call it. */
export interface ChartDef {
  /** Class on the root <svg> besides `chart` (bar-chart, histogram, line-chart, …): pages style and find charts by it. */
  kind: string;
  /** Title for screen readers and the hover of the whole chart (the visible title, when any, is in the spec). */
  title: string;
  spec: TopLevelSpec;
}

/** A rendered chart: SVG markup, safe to inline in HTML (every text from data is escaped by Vega). */
export class Chart extends SafeHtml {
  constructor(
    svg: string,
    readonly def: ChartDef,
    /** What Vega-Lite and Vega warned about while drawing it (nothing, for the definitions in charts.ts). */
    readonly warnings: readonly string[],
  ) {
    super(svg);
  }
  get svg(): string {
    return this.value;
  }
  /** How a notebook shows it: the SVG itself, and its title where SVG cannot be shown. */
  override [MIME_BUNDLE](): Record<string, string> {
    return { 'image/svg+xml': this.value, 'text/plain': `[chart] ${this.def.title}` };
  }
}

type Vega = typeof import('vega');
type VegaLite = typeof import('vega-lite');
let libs: Promise<[Vega, VegaLite]> | null = null;
const load = () =>
  (libs ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => {
    // Without a canvas Vega guesses every character at 0.8 em, which truncates labels that fit and
    // leaves wide margins. Vega lets a caller measure text instead (vl-convert does the same).
    (vega as unknown as { textMetrics: { width: unknown } }).textMetrics.width = (item: { text?: unknown; fontSize?: number; fontWeight?: string | number }, text?: unknown) =>
      textWidth(String(text ?? item.text ?? ''), item.fontSize ?? 11, item.fontWeight === 'bold' || Number(item.fontWeight) >= 600);
    return [vega, vl];
  }));

/**
 * Helvetica's advance widths (1/1000 em, from its AFM) for printable ASCII, 32 to 126. The sans-serif
 * fonts a page falls back to (Arial, Liberation Sans, Roboto) are close; DejaVu Sans is wider, hence the
 * margin in `textWidth`.
 */
const WIDTHS = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667,
  667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500,
  556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/** Width of a line of text in px, a little generous so that labels are not cut in a wider font. */
function textWidth(text: string, fontSize: number, bold = false): number {
  let w = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    w += c >= 32 && c <= 126 ? WIDTHS[c - 32]! : c === 0xb7 || c === 0x2019 ? 278 : c >= 0x2e80 ? 1000 : 600;
  }
  return (w / 1000) * fontSize * (bold ? 1.12 : 1.06);
}

/** A logger that keeps what Vega(-Lite) says instead of printing it (a CLI's stderr is for its own lines). */
function collector(out: string[]) {
  let level = 2;
  const keep = (kind: string) => (...args: readonly unknown[]) => {
    out.push(`${kind}: ${args.map(String).join(' ')}`);
  };
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error: keep('error'),
    warn: keep('warn'),
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/** Draw a chart definition as SVG. Throws when Vega cannot draw it (a bug in the definition). */
export async function render(def: ChartDef): Promise<Chart> {
  const [vega, vl] = await load();
  const warnings: string[] = [];
  const log = collector(warnings);
  const spec = { ...def.spec, config: { ...THEME, ...def.spec.config } } as TopLevelSpec;
  const compiled = vl.compile(spec, { logger: log as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger: log as never });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const errors = warnings.filter((w) => w.startsWith('error'));
  if (errors.length) throw new Error(`chart "${def.title}" could not be drawn: ${errors.join('; ')}`);
  return new Chart(finish(svg, def), def, warnings);
}

/** Round a number written with more than two decimals (Vega writes 112.49999999999999). */
const round2 = (n: string) => {
  const v = Math.round(Number(n) * 100) / 100;
  return Object.is(v, -0) ? '0' : String(v);
};

function finish(svg: string, def: ChartDef): string {
  // Ids from Vega's counters, renamed from what the chart draws (so the same chart gets the same ids,
  // and two different charts on one page never share one).
  const ids = [...new Set([...svg.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]!))];
  if (ids.length) {
    // Hashed with every id blanked as a whole token: splitting on "clip1" would also cut "clip10", so
    // the hash would depend on where Vega's counter stood.
    const tag = createHash('sha256').update(svg.replace(/ id="[^"]+"|url\(#[^)]+\)/g, '#')).digest('hex').slice(0, 10);
    const names = new Map(ids.map((id, i) => [id, `c${tag}-${i}`]));
    svg = svg.replace(/ id="([^"]+)"|url\(#([^)]+)\)/g, (m, a: string | undefined, b: string | undefined) =>
      a !== undefined ? ` id="${names.get(a) ?? a}"` : `url(#${names.get(b!) ?? b})`,
    );
  }
  // A mark's description (aria-label) as its hover text too.
  svg = svg.replace(/<(path|rect|circle|line|text)\b([^>]*?\baria-label="([^"]*)"[^>]*?role="graphics-symbol"[^>]*?)\/>/g, '<$1$2><title>$3</title></$1>');
  // Smaller, same picture: coordinates to 2 decimals, no empty guide backgrounds, no default opacity, and
  // the font named once on the root rather than on every text.
  svg = svg
    .replace(/ (d|transform|x|y|x1|x2|y1|y2|width|height|r|cx|cy)="([^"]*)"/g, (_m, k: string, v: string) => ` ${k}="${v.replace(/-?\d+\.\d{3,}(e-?\d+)?/g, round2)}"`)
    .replace(/<path class="(background|foreground)" aria-hidden="true" d="(M0,0h0v0h0Z)?"( pointer-events="none")?( display="none")?\/>/g, '')
    .replace(/ opacity="1"/g, '');
  const fonts = new Set([...svg.matchAll(/ font-family="([^"]*)"/g)].map((m) => m[1]!));
  const font = fonts.size === 1 ? [...fonts][0]! : null;
  if (font !== null) svg = svg.split(` font-family="${font}"`).join('');
  const title = escapeHtml(def.title);
  return svg
    .replace(
      /^<svg ([^>]*?)class="marks" ([^>]*)>/,
      `<svg $1class="chart ${escapeHtml(def.kind)}" role="img" aria-label="${title}"${font === null ? '' : ` font-family="${font}"`} $2><title>${title}</title>`,
    )
    .replace(/ xmlns:xlink="[^"]*"| version="1\.1"/g, '');
}
