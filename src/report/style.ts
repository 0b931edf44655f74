/** The report's stylesheet and its one small script, inlined into the page (no external files). */

export const CSS = `
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d8dee4; --soft: #f6f8fa; --accent: #0969da;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --gt: #16a34a; --pred: #dc2626;
  --samples: #0072B2; --candidates: #E69F00; --rows: #009E73;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { scroll-behavior: smooth; }
body { margin: 0; font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; color: var(--fg); background: #fff; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
header.page { background: #0d1117; color: #e6edf3; padding: 22px 32px 18px; }
header.page h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header.page h1 .run { color: #79c0ff; }
header.page .meta { color: #9da7b3; font-size: 13px; display: flex; flex-wrap: wrap; gap: 4px 18px; }
header.page .meta b { color: #e6edf3; font-weight: 500; }
nav.toc { position: sticky; top: 0; z-index: 5; background: rgba(255,255,255,.96); border-bottom: 1px solid var(--line); padding: 8px 32px; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 32px 40px; }
section { margin-top: 30px; }
section > h2 { font-size: 19px; margin: 0 0 4px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 8px; }
p.lead { color: var(--muted); margin: 6px 0 14px; max-width: 860px; }
.stages { display: flex; flex-wrap: wrap; gap: 8px; margin: 14px 0 10px; }
.stage { border: 1px solid var(--line); border-radius: 20px; padding: 3px 12px; font-size: 13px; background: var(--soft); }
.stage .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; vertical-align: 1px; background: #8c959f; }
.stage.complete .dot { background: var(--ok); } .stage.partial .dot { background: var(--warn); } .stage.absent { color: var(--muted); }
.notes { margin: 10px 0; padding: 0; list-style: none; }
.notes li, p.missing { border-left: 3px solid var(--warn); background: #fff8c5; padding: 7px 12px; margin: 6px 0; border-radius: 0 6px 6px 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(158px, 1fr)); gap: 10px; margin: 14px 0; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #fff; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.kpi .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.kpi .sub { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px 5px 0; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .02em; }
td.num, th.num { text-align: right; padding-right: 16px; }
td.wrap { max-width: 520px; overflow-wrap: anywhere; }
table.univg-eval td { text-align: right; padding-right: 16px; }
table.univg-eval caption { text-align: left; font-size: 12px; color: var(--muted); padding: 4px 0; }
.funnel { display: grid; grid-template-columns: minmax(210px, max-content) 1fr 86px 84px; gap: 0 12px; align-items: center; margin: 12px 0; max-width: 980px; }
.funnel .head { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .02em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.funnel .step { padding: 4px 0; }
.funnel .unit { color: var(--muted); font-size: 12px; }
.funnel .track { background: var(--soft); border-radius: 3px; height: 16px; }
.funnel .bar { height: 16px; border-radius: 3px; min-width: 1px; }
.funnel .bar.samples { background: var(--samples); } .funnel .bar.candidates { background: var(--candidates); } .funnel .bar.rows { background: var(--rows); }
.funnel .count { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.funnel .pct { text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 14px 26px; align-items: flex-start; }
.chart-box { margin: 4px 0; }
.chart-box .caption { font-size: 13px; font-weight: 600; margin-bottom: 2px; }
.chart-box .caption .sub { font-weight: 400; color: var(--muted); }
svg.chart { display: block; max-width: 100%; height: auto; font-size: 12px; overflow: visible; }
svg.chart text { fill: var(--fg); }
svg.chart .tick, svg.chart .note, svg.chart .axis-label, svg.chart .count { fill: var(--muted); }
svg.chart .grid { stroke: #eaeef2; } svg.chart .axis { stroke: #8c959f; }
svg.chart .empty { fill: var(--muted); font-style: italic; }
.small-multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 10px 20px; }
.filter { margin: 6px 0 12px; }
.filter input { font: inherit; padding: 5px 10px; width: 340px; max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
.reason-group > h3 code { background: #ffebe9; color: var(--bad); padding: 1px 6px; border-radius: 4px; }
.reason-group.passed > h3 code { background: #dafbe1; color: var(--ok); }
.examples { display: grid; gap: 14px; }
.example { display: grid; grid-template-columns: minmax(200px, 320px) 1fr; gap: 16px; border: 1px solid var(--line); border-radius: 8px; padding: 12px; background: #fff; }
@media (max-width: 800px) { .example { grid-template-columns: 1fr; } }
.imgbox { position: relative; width: 100%; background: var(--soft); border: 1px solid var(--line); }
.imgbox img, .imgbox svg { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
.imgbox svg rect, .imgbox svg circle { fill: none; stroke-width: 2.5; }
.imgbox svg .gt { stroke: var(--gt); }
.imgbox svg .pred { stroke: var(--pred); stroke-dasharray: 6 3; }
.imgbox svg .think { stroke: var(--pred); stroke-dasharray: 2 2; stroke-width: 1.25; }
.imgbox svg .think.last { stroke-width: 2; }
.noimg { padding: 28px 10px; text-align: center; color: var(--muted); font-size: 12px; border: 1px dashed var(--line); background: var(--soft); }
figure { margin: 0; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend-gt, .legend-pred { display: inline-block; width: 14px; height: 0; border-top: 3px solid var(--gt); vertical-align: middle; margin: 0 4px 0 0; }
.legend-pred { border-top: 3px dashed var(--pred); }
#eval-columns dt { font-weight: 600; margin-top: 6px; }
#eval-columns dd { margin: 0 0 0 16px; color: var(--muted); }
.legend-think { display: inline-block; width: 14px; height: 0; border-top: 2px dotted var(--pred); vertical-align: middle; margin: 0 4px 0 0; }
.eval-legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; margin: 6px 0 10px; }
.swatch { display: inline-block; width: 18px; height: 0; vertical-align: middle; margin: 0 5px 0 0; }
.eval-task h4 { font-size: 14px; margin: 16px 0 6px; }
.eval-task h4 code { color: var(--muted); font-weight: 400; }
.eval-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.eval-sample { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; }
.eval-sample .ex-head { margin-top: 6px; }
/* The ground truth is drawn first and wider, so a model box on top of it leaves a green rim. */
.eval-sample .imgbox svg .gt { stroke-width: 5; stroke-opacity: .8; }
.imgbox svg .model { stroke-width: 2; }
.imgbox svg .model.baseline { stroke-dasharray: 5 3; }
table.eval-answers { margin: 4px 0 0; width: 100%; font-size: 13px; }
table.eval-answers td { padding: 3px 8px 3px 0; }
table.eval-answers .none { color: var(--bad); font-weight: 600; }
table.eval-answers .sub { color: var(--muted); font-size: 12px; }
table.eval-answers .excerpt { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.others { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
.others figure { width: 96px; }
.others .imgbox { border-color: var(--line); }
.ex-head { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline; margin-bottom: 6px; }
.ex-head .id { font-weight: 600; overflow-wrap: anywhere; }
.ex-head .meta { color: var(--muted); font-size: 13px; }
.chips { display: flex; flex-wrap: wrap; gap: 5px; margin: 4px 0 8px; }
.chip { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #ffebe9; color: var(--bad); border: 1px solid #ffcecb; }
.chip.pass { background: #dafbe1; color: var(--ok); border-color: #aceebb; }
.question { margin: 4px 0 8px; overflow-wrap: anywhere; }
.question b { color: var(--muted); font-weight: 600; }
pre.completion { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 0; max-height: 320px; overflow: auto; }
pre.completion .tag { color: var(--accent); font-weight: 600; }
pre.completion .more { color: var(--muted); font-style: italic; }
.error { color: var(--bad); overflow-wrap: anywhere; }
details { margin: 8px 0; }
details summary { cursor: pointer; color: var(--accent); }
footer.page { max-width: 1240px; margin: 30px auto 0; padding: 14px 32px 30px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); }
`;

/** Table and example filtering; the page is complete without it (the inputs start hidden). */
export const FILTER_SCRIPT = `(function () {
  var inputs = document.querySelectorAll('input[data-filter-for]');
  Array.prototype.forEach.call(inputs, function (input) {
    var target = document.getElementById(input.getAttribute('data-filter-for'));
    if (!target) return;
    input.parentNode.hidden = false;
    input.addEventListener('input', function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(target.querySelectorAll('[data-filter-item]'), function (el) {
        el.hidden = q !== '' && el.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();`;
