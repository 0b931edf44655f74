"""verl advantage estimator `univg_grpo_phi`: GRPO advantages scaled by the paper's difficulty weight.

algorithm.adv_estimator=univg_grpo_phi. For each prompt's group (verl's uid) of G responses it computes the
group-normalised advantage (r - mean) / (std + 1e-4) of the total reward r = accuracy + format, times
phi(mIoU), mIoU being the group's mean accuracy (IoU) reward, as UniVG-R1's trainer weights the clipped
policy-gradient term (phi > 0 passes through the min of the clipped objective, so this is the same
update; the KL term is not weighted). The reward must be verl_reward.compute_score with
reward_kwargs.pack_format=True, so the accuracy part survives verl's summing of token rewards.
phi kind and power come from univg_plugin.json beside this file (UNIVG_PHI / UNIVG_PHI_POWER override).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import univg_reward  # noqa: E402

ESTIMATOR = "univg_grpo_phi"


def advantages_from_packed(scores, index, settings, norm_by_std=True):
    """Per-response advantages from packed scores: the arithmetic of the estimator, without torch."""
    parts = [univg_reward.unpack(s) for s in scores]
    accuracy = [a for a, _ in parts]
    totals = [a + f for a, f in parts]
    return univg_reward.weighted_advantages(
        totals, accuracy, list(index), kind=settings["phi"], power=settings["phi_power"], eps=settings["eps"], std=settings["std"], norm_by_std=norm_by_std
    )


try:
    import torch
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est
except ImportError:  # plain Python (tests), or a process without verl
    register_adv_est = None

if register_adv_est is not None and ESTIMATOR not in ADV_ESTIMATOR_REGISTRY:

    @register_adv_est(ESTIMATOR)
    def compute_univg_grpo_phi_advantage(token_level_rewards, response_mask, index=None, config=None, **kwargs):
        if index is None:
            raise ValueError("univg: univg_grpo_phi needs verl's uid index (GRPO-style rollouts with rollout.n > 1)")
        norm = True if config is None else bool(config.get("norm_adv_by_std_in_grpo", True))
        with torch.no_grad():
            scores = token_level_rewards.sum(dim=-1).tolist()
            adv = advantages_from_packed(scores, index, univg_reward.load_settings(), norm_by_std=norm)
            a = torch.tensor(adv, dtype=token_level_rewards.dtype, device=token_level_rewards.device).unsqueeze(-1) * response_mask
        return a, a
