/**
 * The tower's pretraining objective, per image cell (targets.ts says what each cell holds):
 *
 *   objectness   binary cross-entropy on every cell (positives weighted by POS_WEIGHT: a few cells of 64
 *                hold an object's centre)
 *   colour, shape   cross-entropy on object cells
 *   near, marked    binary cross-entropy on object cells
 *   box          smooth L1 of the four edges, in cells, on object cells
 *
 * Each term is a mean over the cells it covers, and the terms add up. The heads exist only here; the
 * grounding model keeps the tower and its box head.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../model/index.js';
import { oneHotFloat, type Ops, type ParamSpec, type Params } from '../model/index.js';
import type { VitTower } from '../model/vision-vit.js';
import { COLOR_CLASSES, SHAPE_CLASSES, type CellTargets } from './targets.js';

const POS_WEIGHT = 4;

export function headSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const w = { std: 0.02 } as const;
  const head = (name: string, n: number): ParamSpec[] => [
    { name: `vhead.${name}.w`, shape: [d, n], decay: true, init: w },
    { name: `vhead.${name}.b`, shape: [n], decay: false, init: 'zeros' },
  ];
  return [...head('obj', 1), ...head('color', COLOR_CLASSES), ...head('shape', SHAPE_CLASSES), ...head('near', 1), ...head('marked', 1)];
}

/** The batch's targets as device tensors (cells of all images in order). */
function targetTensors(ts: readonly CellTargets[]) {
  const n = ts.reduce((a, t) => a + t.object.length, 0);
  const obj = new Float32Array(n);
  const known = new Float32Array(n);
  const attr = new Float32Array(n);
  const color = new Int32Array(n);
  const shape = new Int32Array(n);
  const near = new Float32Array(n);
  const marked = new Float32Array(n);
  const box = new Float32Array(n * 4);
  let o = 0;
  for (const t of ts) {
    for (let i = 0; i < t.object.length; i++) {
      obj[o + i] = t.object[i]!;
      // Where only the target is labelled, the other cells are unknown, not empty.
      known[o + i] = t.attributes || t.object[i] ? 1 : 0;
      attr[o + i] = t.attributes && t.object[i] ? 1 : 0;
      color[o + i] = Math.max(0, t.color[i]!);
      shape[o + i] = Math.max(0, t.shape[i]!);
      near[o + i] = t.near[i]!;
      marked[o + i] = t.marked[i]!;
    }
    box.set(t.box, o * 4);
    o += t.object.length;
  }
  return {
    obj: tf.tensor1d(obj),
    known: tf.tensor1d(known),
    attr: tf.tensor1d(attr),
    color: tf.tensor1d(color, 'int32'),
    shape: tf.tensor1d(shape, 'int32'),
    near: tf.tensor1d(near),
    marked: tf.tensor1d(marked),
    box: tf.tensor2d(box, [n, 4]),
  };
}

const bce = (logit: tf.Tensor1D, target: tf.Tensor1D) =>
  // max(x, 0) - x t + log(1 + exp(-|x|)): stable for any logit.
  tf.add(tf.sub(tf.relu(logit), tf.mul(logit, target)), tf.log1p(tf.exp(tf.neg(tf.abs(logit)))));

const maskedMean = (v: tf.Tensor, mask: tf.Tensor1D) => tf.div(tf.sum(tf.mul(v, mask)), tf.maximum(tf.sum(mask), 1));

export interface VisionBatchInput {
  n: number;
  patches: Float32Array;
  targets: readonly CellTargets[];
}

/**
 * The loss of a batch (a scalar to differentiate), and [loss, objectness, colour, shape, box] terms as
 * one device tensor for the log. `boxes` are the tower's predictions [cells, 4] for the metrics.
 */
export function visionLoss(p: Params, ops: Ops, tower: VitTower, b: VisionBatchInput): { loss: tf.Scalar; terms: tf.Tensor1D; boxes: tf.Tensor2D; objLogits: tf.Tensor1D; colorLogits: tf.Tensor2D; shapeLogits: tf.Tensor2D } {
  const feats = tower.features(p, ops, { B: b.n, M: 1, patches: b.patches });
  const t = targetTensors(b.targets);
  const head = (name: string) => ops.linear(feats, p(`vhead.${name}.w`), p(`vhead.${name}.b`));
  const objLogits = tf.reshape(head('obj'), [-1]) as tf.Tensor1D;
  const weight = tf.mul(t.known, tf.add(1, tf.mul(t.obj, POS_WEIGHT - 1)));
  const objLoss = tf.div(tf.sum(tf.mul(bce(objLogits, t.obj), weight)), tf.maximum(tf.sum(weight), 1));
  const colorLogits = head('color');
  const shapeLogits = head('shape');
  const ce = (logits: tf.Tensor2D, cls: tf.Tensor1D, k: number) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), oneHotFloat(cls, k)), 1)) as tf.Tensor1D;
  const colorLoss = maskedMean(ce(colorLogits, t.color, COLOR_CLASSES), t.attr);
  const shapeLoss = maskedMean(ce(shapeLogits, t.shape, SHAPE_CLASSES), t.attr);
  const nearLoss = maskedMean(bce(tf.reshape(head('near'), [-1]) as tf.Tensor1D, t.near), t.attr);
  const markedLoss = maskedMean(bce(tf.reshape(head('marked'), [-1]) as tf.Tensor1D, t.marked), t.attr);
  const boxes = tower.boxes(p, ops, feats);
  // Smooth L1 of the edges in cells (1000 / grid units), over object cells.
  const err = tf.abs(tf.div(tf.sub(boxes, t.box), 1000 / tower.grid));
  // 0.5 e^2 below 1 cell, e - 0.5 above (written with min: a comparison has no gradient).
  const m = tf.minimum(err, 1);
  const smooth = tf.add(tf.mul(tf.square(m), 0.5), tf.sub(err, m));
  const boxLoss = maskedMean(tf.sum(smooth, 1) as tf.Tensor1D, t.obj);
  const loss = tf.addN([objLoss, colorLoss, shapeLoss, nearLoss, markedLoss, boxLoss]) as tf.Scalar;
  const terms = tf.stack([loss, objLoss, colorLoss, shapeLoss, boxLoss]) as tf.Tensor1D;
  return { loss, terms, boxes, objLogits, colorLogits, shapeLogits };
}

/** Held-out metrics from read-back predictions: how well the decoder will be able to point. */
export interface VisionMetrics {
  objects: number;
  /** Share of objects whose cell's predicted box has IoU >= 0.5 (and >= 0.7) with the true one. */
  boxAcc50: number;
  boxAcc70: number;
  meanIou: number;
  /** Share of objects whose cell has objectness > 0.5, and of cells above 0.5 that hold an object. */
  objRecall: number;
  objPrecision: number;
  colorAcc: number;
  shapeAcc: number;
}

const iou = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number) => {
  const iw = Math.min(a[ao + 2]!, b[bo + 2]!) - Math.max(a[ao]!, b[bo]!);
  const ih = Math.min(a[ao + 3]!, b[bo + 3]!) - Math.max(a[ao + 1]!, b[bo + 1]!);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const area = (x: ArrayLike<number>, o: number) => (x[o + 2]! - x[o]!) * (x[o + 3]! - x[o + 1]!);
  return inter / (area(a, ao) + area(b, bo) - inter);
};

export function visionMetrics(targets: readonly CellTargets[], boxes: Float32Array, obj: Float32Array, color: Float32Array, shape: Float32Array): VisionMetrics {
  let objects = 0;
  let hit50 = 0;
  let hit70 = 0;
  let iouSum = 0;
  let found = 0;
  let predicted = 0;
  let right = 0;
  let colorOk = 0;
  let shapeOk = 0;
  let attrObjects = 0;
  let o = 0;
  const argmax = (x: Float32Array, at: number, k: number) => {
    let best = 0;
    for (let i = 1; i < k; i++) if (x[at * k + i]! > x[at * k + best]!) best = i;
    return best;
  };
  for (const t of targets) {
    for (let i = 0; i < t.object.length; i++) {
      const cell = o + i;
      const pos = obj[cell]! > 0;
      if (pos && t.attributes) {
        predicted++;
        if (t.object[i]) right++;
      }
      if (!t.object[i]) continue;
      objects++;
      const v = iou(boxes, cell * 4, t.box, i * 4);
      iouSum += v;
      if (v >= 0.5) hit50++;
      if (v >= 0.7) hit70++;
      if (pos) found++;
      if (t.attributes) {
        attrObjects++;
        if (argmax(color, cell, COLOR_CLASSES) === t.color[i]) colorOk++;
        if (argmax(shape, cell, SHAPE_CLASSES) === t.shape[i]) shapeOk++;
      }
    }
    o += t.object.length;
  }
  const share = (a: number, b: number) => (b ? a / b : 0);
  return {
    objects,
    boxAcc50: share(hit50, objects),
    boxAcc70: share(hit70, objects),
    meanIou: share(iouSum, objects),
    objRecall: share(found, objects),
    objPrecision: share(right, predicted),
    colorAcc: share(colorOk, attrObjects),
    shapeAcc: share(shapeOk, attrObjects),
  };
}
