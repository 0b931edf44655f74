/** The synthetic multi-image grounding suite: scene graphs, rendering, MIG-Bench-format output. */
export * from './vocabulary.js';
export { makeScene, MAX_ATTEMPTS, type MakeSceneOptions } from './make-scene.js';
export { renderScene, renderImage, imageSvg, markerRect, overlayRegion, blendOverBackground, PNG_OPTIONS, type Region } from './render.js';
export { generateSuite, validateOptions, planSample, sceneFor, SYNTH_VERSION, DIFFICULTY_CHOICES, type DifficultyChoice, type SuiteOptions, type SuiteResult, type SuiteCounts } from './suite.js';
export { interpret, markedObjects, MIN_VISIBLE, SIZE_RATIO, MAX_STEP, type Interpretation } from './verify.js';
export { difficultyScore, difficultyLabel, measureDifficulty, DIFFICULTY_WEIGHTS, DIFFICULTY_THRESHOLDS } from './difficulty.js';
export { MigRecord, MigFile, toMigRecord, imagePath, sampleId, ANSWER_DECIMALS } from './mig.js';
export { makeRng, hash32, hashUnit, STREAM, type Rng } from './rng.js';
export { type Scene, type SceneImage, type SceneObject, type Background, type DifficultyMetrics, visibility, keyOf, fillOf } from './scene.js';
export { shapeBox, shapeArea, insideTester, UNIT_SHAPES } from './shapes.js';
export { REGIMES, MARKER_GAP, EDGE, MIN_R, MIN_SIDE, MAX_SIDE } from './layout.js';
