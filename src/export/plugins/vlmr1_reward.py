"""VLM-R1 rewards for univg exports, registered by recipes/vlmr1_train.py into grpo_jsonl.reward_funcs_registry.

VLM-R1 calls fn(completions, solution, **kwargs) with every dataset column in kwargs; the answer box of the
exported rows is in original pixels (VLM-R1's convention), so these read the `univg_gt` column instead,
whose bbox is in the convention the model family answers in, and compute the paper's rewards there.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import univg_reward  # noqa: E402


def univg_accuracy(completions, solution=None, **kwargs):
    gts = kwargs.get("univg_gt")
    if gts is None:
        raise ValueError("univg: univg_accuracy needs the univg_gt column of a univg VLM-R1 export")
    return [univg_reward.accuracy_reward(univg_reward.completion_text(c), univg_reward.parse_ground_truth(g)["bbox"]) for c, g in zip(completions, gts)]


def univg_format(completions, **kwargs):
    return [univg_reward.format_reward(univg_reward.completion_text(c)) for c in completions]


REWARD_FUNCS = {"univg_accuracy": univg_accuracy, "univg_format": univg_format}
