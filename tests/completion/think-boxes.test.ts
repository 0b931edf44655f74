/**
 * The reasoning's boxes placed on the image each is about (issue 14: the audit app draws them on the
 * right image; the report draws the target image's).
 */
import { describe, expect, it } from 'vitest';
import { placeThinkBoxes } from '../../src/completion/think-boxes.js';

const images = [
  { width: 200, height: 100 },
  { width: 400, height: 200 },
  { width: 100, height: 100 },
];

describe('placeThinkBoxes', () => {
  it('puts each box on the image named last before it, converted with that image size', () => {
    const text =
      '<think>In image 1 the cup spans (100,100),(500,500). The second image shows it at (0,0),(500,1000), and (10,10),(20,20) too. ' +
      'Back to the first image: (0,0),(1000,1000).</think><answer>(0,0),(500,1000)</answer>';
    const boxes = placeThinkBoxes(text, { convention: 'qwen2vl', images, targetImage: 1 });
    expect(boxes.map((b) => b.image)).toEqual([0, 1, 1, 0]);
    expect(boxes[0]!.box).toEqual([20, 10, 100, 50]);
    expect(boxes[1]!.box).toEqual([0, 0, 200, 200]);
    expect(boxes[3]!.box).toEqual([0, 0, 200, 100]);
    expect(boxes.map((b) => b.last)).toEqual([false, false, false, true]);
    // Offsets delimit the box text, for linking the text to the drawing.
    expect(text.slice(boxes[0]!.offset, boxes[0]!.end)).toBe('(100,100),(500,500)');
    expect(text.slice(boxes[2]!.offset, boxes[2]!.end)).toBe('(10,10),(20,20)');
  });

  it('uses the target image before any image is named, and for single-image samples', () => {
    const text = '<think>It is at (10,10),(20,20); image 3 has nothing.</think><answer>(1,1),(2,2)</answer>';
    expect(placeThinkBoxes(text, { convention: 'pixels', images, targetImage: 2 })[0]).toMatchObject({ image: 2, box: [10, 10, 20, 20] });
    expect(placeThinkBoxes('<think>The image 2 box (1,1),(5,5).</think><answer>(1,1),(2,2)</answer>', { convention: 'pixels', images: [images[0]!], targetImage: 0 })[0]!.image).toBe(0);
  });

  it('ignores a mention of an image the sample does not have', () => {
    const text = '<think>Image 9 is odd: (1,1),(5,5).</think><answer>(1,1),(2,2)</answer>';
    expect(placeThinkBoxes(text, { convention: 'pixels', images, targetImage: 1 })[0]!.image).toBe(1);
  });

  it('scales resized-pixel boxes by the size the teacher saw that image at', () => {
    const text = '<think>Image 2: (28,28),(56,56).</think><answer>(28,28),(56,56)</answer>';
    const seenSizes = [{ width: 100, height: 50 }, { width: 200, height: 100 }, undefined];
    expect(placeThinkBoxes(text, { convention: 'qwen25vl', images, seenSizes, targetImage: 0 })[0]).toMatchObject({ image: 1, box: [56, 56, 112, 112] });
  });

  it('returns nothing without a think', () => {
    expect(placeThinkBoxes('<answer>(1,1),(2,2)</answer>', { convention: 'pixels', images, targetImage: 0 })).toEqual([]);
  });
});
