export * from './records.js';
export * from './config.js';
