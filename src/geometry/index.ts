export { iou, boxArea, clampBox, boxProblem, type BoxProblem } from './box.js';
export { convertBox, frameRatio, toPixels, fromPixels, isIntegerConvention, teacherBoxToPixels, type ConvertContext } from './convert.js';
export { smartResize, pyRound, QWEN_DEFAULTS, type SmartResizeOptions } from './smart-resize.js';
export { exactBox, exactOf, iouAtLeast, pixelsExact, thresholdFraction, type Rational } from './exact.js';
