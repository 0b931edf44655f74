"""EasyR1 reward for univg exports: worker.reward.reward_function=plugins/easyr1_reward.py:compute_score.

A batch reward (REWARD_TYPE = "batch"): each input has the response and the ground truth (the answer
column: GroundTruth JSON); each output has "overall" (accuracy + format, the paper's sum), "accuracy" and
"format" (EasyR1 logs them; algorithm.filter_key can filter on any).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import univg_reward  # noqa: E402

REWARD_NAME = "univg_r1"
REWARD_TYPE = "batch"


def compute_score(reward_inputs, **kwargs):
    out = []
    for ri in reward_inputs:
        acc, fmt = univg_reward.rewards(ri["response"], ri["ground_truth"])
        out.append({"overall": acc + fmt, "accuracy": acc, "format": fmt})
    return out
