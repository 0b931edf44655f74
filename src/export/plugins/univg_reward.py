"""UniVG-R1's rewards and difficulty weight, for the trainers univg exports to.

Written by `univg export` beside the data (plugins/univg_reward.py); the trainer-specific modules next to it
(verl_reward.py, verl_difficulty.py, easyr1_reward.py, trl_rewards.py, trl_grpo.py, vlmr1_reward.py) import
this one. Standard library only.

The rewards are the paper's (AMAP-ML/UniVG-R1, vlm_modules/qwen_module.py: format_reward_rec and iou_reward),
value for value: univg's TypeScript reward (src/completion/rewards.ts) and these functions are tested to
give identical values on thousands of generated completions. The ground truth is the GroundTruth JSON every
export carries (reward_model.ground_truth, answer, solution or univg_gt): `bbox` is already in the
convention the model family answers in (Qwen2-VL: 0-1000; Qwen2.5-VL: pixels of the trainer's resized
input), beside `image_w`, `image_h`, `convention` and the original-pixel `bbox_px`.
"""
import json
import math
import os
import re

# The paper's patterns, DOTALL: `$` is end of text or before one final newline, as in their re.search.
COT_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)</answer>$", re.DOTALL)
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
BOX = re.compile(r"\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)")


def format_reward(text):
    """1.0 when the text has <think>...</think> then <answer>(x1,y1),(x2,y2)</answer> ending it, else 0.0."""
    return 1.0 if COT_FORMAT.search(text) is not None else 0.0


def univg_iou(b1, b2):
    """Their IoU as coded: inclusive (-1 ... +1) intersection, exclusive areas, boxes not reordered."""
    ix1 = max(b1[0], b2[0])
    iy1 = max(b1[1], b2[1])
    ix2 = min(b1[2] - 1, b2[2] - 1)
    iy2 = min(b1[3] - 1, b2[3] - 1)
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1) if (ix1 < ix2 and iy1 < iy2) else 0
    union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
    return float(inter) / union


def accuracy_reward(text, gt_bbox):
    """IoU of the first box in the first <answer> block with the ground truth; 0.0 when there is none."""
    reward = 0.0
    try:
        m = ANSWER_TAG.search(text)
        if m:
            b = BOX.search(m.group(1).strip())
            if b:
                reward = univg_iou([int(b.group(k)) for k in range(1, 5)], gt_bbox)
    except Exception:
        # Their iou_reward turns any failure (a zero union, an overflow) into 0.
        pass
    return reward


GT_KEYS = ("bbox", "convention", "image_w", "image_h")


def parse_ground_truth(gt):
    """The GroundTruth of a row: a dict, or its JSON text. A clear error when it is not one."""
    if isinstance(gt, (str, bytes)):
        try:
            gt = json.loads(gt)
        except ValueError as e:
            raise ValueError("univg: the ground truth is not GroundTruth JSON written by `univg export`: %s" % e)
    if not isinstance(gt, dict) or any(k not in gt for k in GT_KEYS):
        raise ValueError("univg: the ground truth needs %s (a GroundTruth written by `univg export`), got %r" % (", ".join(GT_KEYS), gt))
    bbox = gt["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise ValueError("univg: ground-truth bbox must be 4 numbers, got %r" % (bbox,))
    return gt


def completion_text(completion):
    """The text of a completion: a string, or chat messages (the last one's content, text blocks joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
        if isinstance(content, str):
            return content
        if isinstance(content, (list, tuple)):
            return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type", "text") == "text")
    return ""


def rewards(text, ground_truth):
    """(accuracy, format) of one completion against one GroundTruth; their sum is the paper's reward."""
    gt = parse_ground_truth(ground_truth)
    return accuracy_reward(text, gt["bbox"]), format_reward(text)


# ---------------------------------------------------------------------------------------------------
# Difficulty weight: phi(mIoU) of a prompt's group, on the policy-gradient term (univg train rl, the paper's
# --miou_adjust_math). Since phi > 0 it passes through the min of the clipped objective, so weighting the
# term equals scaling the group's advantages by phi, which is how verl and TRL apply it.

PHI_KINDS = ("exp", "power", "log", "none")
ADVANTAGE_EPS = 1e-4


def phi(miou, kind="exp", power=1.0):
    """exp: e^(1 - mIoU) (the paper's); power: (1.05 - mIoU)^w; log: -ln(0.02 + mIoU); none: 1."""
    if kind == "exp":
        return math.exp(1 - miou)
    if kind == "power":
        return math.pow(1.05 - miou, power)
    if kind == "log":
        return -math.log(0.02 + miou)
    if kind == "none":
        return 1.0
    raise ValueError("univg: phi must be one of %s, got %r" % (", ".join(PHI_KINDS), kind))


def _mean(xs):
    # A plain running sum: Python 3.12's sum() compensates, which would change the last bits.
    s = 0.0
    for x in xs:
        s += x
    return s / len(xs) if xs else 0.0


def _std(xs, kind="sample"):
    n = len(xs)
    d = n - 1 if kind == "sample" else n
    if d <= 0:
        return 0.0
    m = _mean(xs)
    s = 0.0
    for x in xs:
        s += (x - m) ** 2
    return math.sqrt(s / d)


def groups_of(index):
    """Positions of each group, by equal group id, in first-seen order (verl's uid; TRL's blocks of G)."""
    groups = {}
    order = []
    for i, k in enumerate(index):
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(i)
    return [groups[k] for k in order]


def difficulty_weights(accuracy, index, kind="exp", power=1.0):
    """phi(mean accuracy of its group) for every completion; NaN accuracies (no reward) are left out of the mean."""
    out = [1.0] * len(accuracy)
    for g in groups_of(index):
        vals = [accuracy[i] for i in g if accuracy[i] == accuracy[i]]
        w = phi(_mean(vals), kind, power) if vals else 1.0
        for i in g:
            out[i] = w
    return out


def weighted_advantages(totals, accuracy, index, kind="exp", power=1.0, eps=ADVANTAGE_EPS, std="sample", norm_by_std=True):
    """phi(mIoU) x (r - mean) / (std + eps) per completion, groups by `index`; a group of one gets advantage 0."""
    weights = difficulty_weights(accuracy, index, kind, power)
    out = [0.0] * len(totals)
    for g in groups_of(index):
        if len(g) < 2:
            continue
        r = [totals[i] for i in g]
        m = _mean(r)
        s = _std(r, std)
        for i in g:
            a = totals[i] - m
            out[i] = weights[i] * (a / (s + eps) if norm_by_std else a)
    return out


# verl hands an advantage estimator only the summed token rewards, and phi needs the accuracy part of each:
# with `pack_format` the verl reward returns accuracy + 2 * format, which the estimator splits again
# (accuracy is in [0, 1], so [0, 1] means format 0 and [2, 3] format 1), and advantages use accuracy + format.
PACK = 2.0
PACK_TOLERANCE = 1e-5


def pack(accuracy, fmt):
    return accuracy + PACK * fmt


def unpack(score):
    """(accuracy, format) of a packed score; a clear error for a score that is not one."""
    fmt = 1.0 if score >= 1.5 else 0.0
    acc = score - PACK * fmt
    if not (-PACK_TOLERANCE <= acc <= 1 + PACK_TOLERANCE):
        raise ValueError(
            "univg: reward %r is not accuracy + 2 * format; the univg_grpo_phi estimator needs verl_reward.compute_score "
            "with custom_reward_function.reward_kwargs.pack_format=True (see recipes/run_grpo.sh)" % (score,)
        )
    return acc, fmt


def load_settings():
    """The export's plugin settings (univg_plugin.json next to this file), with UNIVG_PHI / UNIVG_PHI_POWER overrides."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "univg_plugin.json")
    settings = {"phi": "exp", "phi_power": 1.0, "eps": ADVANTAGE_EPS, "std": "sample"}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            settings.update(json.load(f))
    settings["phi"] = os.environ.get("UNIVG_PHI", settings["phi"])
    settings["phi_power"] = float(os.environ.get("UNIVG_PHI_POWER", settings["phi_power"]))
    if settings["phi"] not in PHI_KINDS:
        raise ValueError("univg: phi must be one of %s, got %r" % (", ".join(PHI_KINDS), settings["phi"]))
    return settings
