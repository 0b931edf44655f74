"""verl reward for univg exports: custom_reward_function.path=plugins/verl_reward.py, name=compute_score.

compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) returns
{"score", "acc", "format"}; verl uses "score" as the reward and logs the other keys. score is the paper's
accuracy + format, or accuracy + 2 * format with reward_kwargs.pack_format=True, the form the
univg_grpo_phi advantage estimator (verl_difficulty.py) reads back. Loading this file registers that
estimator in the process that loads it (verl's TaskRunner, which also computes advantages).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import univg_reward  # noqa: E402
import verl_difficulty  # noqa: E402,F401  (registers univg_grpo_phi in this process when verl is importable)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, pack_format=False, **kwargs):
    acc, fmt = univg_reward.rewards(solution_str, ground_truth)
    score = univg_reward.pack(acc, fmt) if pack_format else acc + fmt
    return {"score": score, "acc": acc, "format": fmt}
