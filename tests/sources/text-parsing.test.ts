import { describe, expect, it } from 'vitest';
import { checkBoxOnGrid, findBoxSpans, parseBoxText, parseBoxValue } from '../../src/sources/boxes.js';
import { findImageMentions, resolveMention, targetMention } from '../../src/sources/image-refs.js';

const target = (text: string, n: number) => {
  const m = targetMention(text);
  return m ? resolveMention(m, n) : 'none';
};

describe('image references', () => {
  it('resolves every MIG-Bench phrasing to the right image (0-based)', () => {
    // Question texts as they appear in MIG_data.json, one per task.
    expect(target('These images share one object in common. Recognize and locate this object in the 3th image. ', 4)).toBe(2);
    expect(target('You are given a source image followed by its several regions. Please locate the 2th region picture in the source image. ', 4)).toBe(0);
    expect(target('These are a sequence of images containing moving objects. For the object in the first image marked with red bounding box(<|box_start|>(139,305),(495,743)<|box_end|>), please locate it in the 6th image. ', 6)).toBe(5);
    expect(target('Find and locate where does the object in image-1 locate in the image-2.', 2)).toBe(1);
    expect(target('At their time, what might the people in image-1 need for sailing? Find it in Image-2. Find it and locate it in the second image. ', 2)).toBe(1);
    expect(target('Which item in Image-2 has the similat texture of the object-A in Image-1? Find it and locate it in the second image. ', 2)).toBe(1);
    expect(target('You are now presented with two objects. For the area marked by the red bounding box in the first image, identify and locate the corresponding area in the second image that serves a similar function. ', 2)).toBe(1);
    expect(target('Compare these two images carefully and give me the coordinates of their real difference in the second image.  Find it and locate it in the second image. ', 2)).toBe(1);
    expect(target('These images share one object in common(the object marked with red bounding box in the first image(<|box_start|>(451,265),(519,388)<|box_end|>). Recognize and locate this object in the 3th image. ', 5)).toBe(2);
    expect(target('One day Bob feels ... Are there any alternatives on Image2\'s table? Find it and locate it in the second image. ', 2)).toBe(1);
    expect(target('It is in the fourth image. <|box_start|>(747,0),(999,518)<|box_end|>. ', 5)).toBe(3);
    // No image named at all.
    expect(target('Compare these two images carefully and give me the coordinates of their difference. ', 2)).toBe('none');
  });

  it('knows ordinal words, numeric ordinals, Image-N forms and "last"; ignores ordinary words', () => {
    const idx = (t: string) => findImageMentions(t).map((m) => m.index);
    expect(idx('the first image, the tenth image, the 2nd image, the 3rd image, the 11th image')).toEqual([0, 9, 1, 2, 10]);
    expect(idx('Image-3, image 4, Image2, picture-5, the last image')).toEqual([2, 3, 1, 4, 'last']);
    expect(idx('these images, this image, each image, the largest image, the same image')).toEqual([]);
  });

  it('flags ordinals that do not name an existing image', () => {
    const m = targetMention("It's in the umpteenth image.")!;
    expect(m.index).toBeNull();
    expect(resolveMention(m, 4)).toBeNull();
    expect(resolveMention(targetMention('in the twenty-first image')!, 30)).toBeNull();
    expect(resolveMention(targetMention('locate it in the 7th image')!, 6)).toBeNull();
    expect(resolveMention(targetMention('locate it in the 0th image')!, 6)).toBeNull();
    expect(resolveMention(targetMention('in the last image')!, 6)).toBe(5);
  });
});

describe('box text and values', () => {
  it('parses the Qwen2-VL text form', () => {
    expect(parseBoxText('(316,58),(764,999)')).toEqual({ ok: true, box: [316, 58, 764, 999] });
    expect(parseBoxText(' ( 1.5 , 2 ) , ( 3 , 4e2 ) ')).toEqual({ ok: true, box: [1.5, 2, 3, 400] });
    expect(parseBoxText('(1,2),(3)')).toMatchObject({ ok: false, reason: 'box_unparsable' });
    expect(parseBoxText('(1,x),(3,4)')).toMatchObject({ ok: false, reason: 'box_unparsable' });
    expect(parseBoxText('(NaN,2),(3,4)')).toMatchObject({ ok: false, reason: 'box_not_finite' });
    expect(parseBoxText('(1,-inf),(3,4)')).toMatchObject({ ok: false, reason: 'box_not_finite' });
    expect(parseBoxText('(1,2),(3,1e999)')).toMatchObject({ ok: false, reason: 'box_not_finite' });
  });

  it('finds box spans and reports an unclosed one', () => {
    const a = findBoxSpans("It's in the third image. <|box_start|>(316,58),(764,999)<|box_end|>");
    expect(a.spans).toEqual([{ inner: '(316,58),(764,999)', at: 25 }]);
    expect(a.unclosedAt).toBeNull();
    expect(findBoxSpans('no box here')).toEqual({ spans: [], unclosedAt: null });
    expect(findBoxSpans('<|box_start|>(1,2),(3,4)').unclosedAt).toBe(0);
    expect(findBoxSpans('(1,2),(3,4)<|box_end|>').unclosedAt).toBe(0);
  });

  it('parses MIG-Bench answer arrays', () => {
    expect(parseBoxValue([0.1, 0.2, 0.3, 0.4])).toEqual({ ok: true, box: [0.1, 0.2, 0.3, 0.4] });
    expect(parseBoxValue([0.1, 0.2, 0.3])).toMatchObject({ ok: false, reason: 'box_unparsable' });
    expect(parseBoxValue('0.1,0.2,0.3,0.4')).toMatchObject({ ok: false, reason: 'box_unparsable' });
    expect(parseBoxValue(['NaN', 0.2, 0.3, 0.4])).toMatchObject({ ok: false, reason: 'box_not_finite' });
    expect(parseBoxValue([null, 0.2, 0.3, 0.4])).toMatchObject({ ok: false, reason: 'box_unparsable' });
  });

  it('checks boxes on their source grid', () => {
    expect(checkBoxOnGrid([0, 0, 1000, 1000], 'qwen2vl').ok).toBe(true);
    expect(checkBoxOnGrid([0, 0, 1, 1], 'norm').ok).toBe(true);
    expect(checkBoxOnGrid([0, 0, 1001, 10], 'qwen2vl')).toMatchObject({ reason: 'box_out_of_range' });
    expect(checkBoxOnGrid([-0.01, 0, 0.5, 0.5], 'norm')).toMatchObject({ reason: 'box_out_of_range' });
    expect(checkBoxOnGrid([0.027, 0.18, 0.143, 0.051], 'norm')).toMatchObject({ reason: 'box_inverted' });
    expect(checkBoxOnGrid([5, 1, 5, 9], 'qwen2vl')).toMatchObject({ reason: 'box_degenerate' });
    expect(checkBoxOnGrid([Number.NaN, 1, 5, 9], 'qwen2vl')).toMatchObject({ reason: 'box_not_finite' });
  });
});
