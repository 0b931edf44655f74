/**
 * Charts and the HTML they are set in, shared by the run report, the notebooks, the audit app and the
 * trainers' SVG files: chart definitions (data in, Vega-Lite spec out), one renderer to static SVG, the
 * theme, and escaping helpers.
 */
export * from './html.js';
export * from './theme.js';
export * from './charts.js';
export { render, Chart, type ChartDef } from './render.js';
