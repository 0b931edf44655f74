/** SVG charts and the HTML escaping they rely on, shared by the run report and the trainers' curves. */
export * from './html.js';
export * from './svg.js';
