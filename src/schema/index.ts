export * from './records.js';
export * from './config.js';
export * from './arrow.js';
export * from './train-options.js';
export * from './canonical.js';
