"""Python oracle for the parity tests in tests/completion/.

Restates, with the same regexes and arithmetic, the reward functions of AMAP-ML/UniVG-R1
(src/open-r1-multimodal/src/open_r1/vlm_modules/qwen_module.py: format_reward_rec, iou_reward) and the
MIG-Bench scorer (eval/MIG_bench/utils.py: extract_bbox), with the trainer plumbing (batches, logging,
image-path checks) left out. Reads a JSON list of {"text": str, "gt": [4 numbers]} on stdin and writes a
JSON list of results on stdout; floats go through repr, so they round-trip exactly.
"""
import json
import re
import sys

COT_FORMAT = r"<think>.*?</think>\s*<answer>\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)</answer>$"
SINGLE_FORMAT = r"\(\d+,\s*\d+\),\s*\(\d+,\s*\d+\)"
ANSWER_TAG = r"<answer>(.*?)</answer>"
SINGLE_ANSWER_TAG = r"(.*)"
BOX = r"\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)"


def format_reward(text, single):
    return 1.0 if re.search(SINGLE_FORMAT if single else COT_FORMAT, text, re.DOTALL) is not None else 0.0


def univg_iou(b1, b2):
    ix1 = max(b1[0], b2[0])
    iy1 = max(b1[1], b2[1])
    ix2 = min(b1[2] - 1, b2[2] - 1)
    iy2 = min(b1[3] - 1, b2[3] - 1)
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1) if (ix1 < ix2 and iy1 < iy2) else 0
    union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
    return float(inter) / union


def accuracy_reward(text, gt, single):
    reward = 0.0
    try:
        m = re.search(SINGLE_ANSWER_TAG if single else ANSWER_TAG, text, re.DOTALL)
        if m:
            b = re.search(BOX, m.group(1).strip())
            if b:
                reward = univg_iou([int(b.group(k)) for k in range(1, 5)], gt)
    except Exception:
        pass
    return reward


EXTRACT = [
    r"\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)",
    r"\[(\d+\.\d+),\s*(\d+\.\d+),\s*(\d+\.\d+),\s*(\d+\.\d+)\]",
    r"\((\d+\.\d+),(\d+\.\d+)\),\((\d+\.\d+),(\d+\.\d+)\)",
    r"\((\d+\.\d+),\s*(\d+\.\d+),\s*(\d+\.\d+),\s*(\d+\.\d+)\)",
    r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\]",
    r"<box>(\d+)\s+(\d+)\s+(\d+)\s+(\d+)</box>",
]


def first_box_anywhere(text):
    """extract_bbox: None stands for its failure value [0.0, 0.0, 0.0, 0.0]."""
    found = []
    for pattern in EXTRACT:
        found = re.findall(pattern, text)
        if found:
            break
    try:
        return [int(v) for v in found[0]]
    except Exception:
        return None


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        text, gt = c["text"], c["gt"]
        first = first_box_anywhere(text)
        out.append({
            "format": format_reward(text, False),
            "formatSingle": format_reward(text, True),
            "acc": accuracy_reward(text, gt, False),
            "accSingle": accuracy_reward(text, gt, True),
            # as strings: Python ints may exceed 2**53
            "first": None if first is None else [str(v) for v in first],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
