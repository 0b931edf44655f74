/** Every trainer format, by name. */
import type { ExportFormat } from '../family.js';
import type { FormatSpec } from '../spec.js';
import { easyr1Format } from './easyr1.js';
import { llamafactoryFormat } from './llamafactory.js';
import { trlFormat } from './trl.js';
import { verlFormat } from './verl.js';
import { vlmr1Format } from './vlmr1.js';

export const FORMATS: Readonly<Record<ExportFormat, FormatSpec>> = {
  verl: verlFormat,
  easyr1: easyr1Format,
  trl: trlFormat,
  llamafactory: llamafactoryFormat,
  'vlm-r1': vlmr1Format,
};
export { VERL_ESTIMATOR } from './verl.js';
export { LLAMAFACTORY_DATASET } from './llamafactory.js';
