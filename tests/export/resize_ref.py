"""The model-input size each trainer makes from an image, restated from their Python for the export tests.

smart: qwen-vl-utils / transformers smart_resize with the budget (verl, TRL, VLM-R1).
pre:   EasyR1's process_image / LLaMA-Factory's _preprocess_image (shrink into [min, max] pixels with
       int(w * sqrt(max / (w * h))), then grow), LLaMA-Factory's Qwen2-VL plugin widening sides under 28 px,
       then the processor's smart_resize with the Qwen2.5-VL checkpoint's own budget (3136..12845056).
stdin: [[kind, w, h, min_pixels, max_pixels, min_side or null], ...]; stdout: [[w, h], ...].
"""
import json
import math
import sys


def smart_resize(height, width, factor=28, min_pixels=3136, max_pixels=12845056):
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def pre_resize(width, height, min_pixels, max_pixels, min_side):
    if (width * height) > max_pixels:
        resize_factor = math.sqrt(max_pixels / (width * height))
        width, height = int(width * resize_factor), int(height * resize_factor)
    if (width * height) < min_pixels:
        resize_factor = math.sqrt(min_pixels / (width * height))
        width, height = int(width * resize_factor), int(height * resize_factor)
    if min_side is not None and min(width, height) < min_side:
        width, height = max(width, min_side), max(height, min_side)
    return width, height


out = []
for kind, w, h, mn, mx, side in json.load(sys.stdin):
    if kind == "pre":
        w, h = pre_resize(w, h, mn, mx, side)
        rh, rw = smart_resize(h, w)
    else:
        rh, rw = smart_resize(h, w, min_pixels=mn, max_pixels=mx)
    out.append([rw, rh])
json.dump(out, sys.stdout)
