"""TRL reward functions for univg exports: reward_funcs=[univg_accuracy, univg_format].

TRL passes every dataset column as a keyword argument; `solution` holds the GroundTruth JSON. Completions
may be strings or chat messages. The sum of the two (reward_weights 1, 1) is the paper's reward.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import univg_reward  # noqa: E402


def univg_accuracy(completions, solution, **kwargs):
    out = []
    for c, s in zip(completions, solution):
        out.append(univg_reward.accuracy_reward(univg_reward.completion_text(c), univg_reward.parse_ground_truth(s)["bbox"]))
    return out


def univg_format(completions, **kwargs):
    return [univg_reward.format_reward(univg_reward.completion_text(c)) for c in completions]
