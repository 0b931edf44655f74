/** One scene builder per synthetic task. */
import type { SynthTask } from '../vocabulary.js';
import type { Builder } from './common.js';
import { buildCommonObject } from './common-object.js';
import { buildCorrespondence } from './correspondence.js';
import { buildDiff } from './diff.js';
import { buildObjectTracking } from './object-tracking.js';
import { buildReasoning } from './reasoning.js';
import { buildReferGrounding } from './refer-grounding.js';

export const BUILDERS: Readonly<Record<SynthTask, Builder>> = {
  common_object: buildCommonObject,
  diff: buildDiff,
  refer_grounding: buildReferGrounding,
  correspondence: buildCorrespondence,
  reasoning: buildReasoning,
  object_tracking: buildObjectTracking,
};
export type { Builder, BuildContext, Draft } from './common.js';
