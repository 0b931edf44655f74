/** Public library API of univg. Tests outside this repository import from here. */
export * from './errors.js';
export * from './schema/index.js';
export * from './geometry/index.js';
export * from './completion/index.js';
export * from './store/index.js';
export * from './sources/index.js';
export * from './teacher/index.js';
export * from './teacher/sim/index.js';
export * as synthetic from './sources/synthetic/index.js';
export * from './runview/index.js';
export * from './report/index.js';
export * as charts from './charts/index.js';
export * as audit from './audit/index.js';
export * from './train/eval/index.js';
export * from './stages/index.js';
export * from './pipeline/index.js';
export * from './train/loader/index.js';
export * from './train/score/index.js';
