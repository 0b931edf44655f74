"""UnivgGRPOTrainer: TRL's GRPOTrainer with UniVG-R1's difficulty weight phi(mIoU).

After TRL computes a batch's group-normalised advantages, each group's are multiplied by phi of the
group's mean accuracy reward (the reward function named `accuracy_reward`, univg_accuracy by default).
Because phi > 0 passes through the min of the clipped objective, this equals weighting that group's
policy-gradient term, as UniVG-R1's trainer does; the KL term (beta) is not weighted. Use it with
scale_rewards="group" (the paper's normalisation) and loss_type="grpo".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

import univg_reward  # noqa: E402


class UnivgGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, phi="exp", phi_power=1.0, accuracy_reward="univg_accuracy", **kwargs):
        if phi not in univg_reward.PHI_KINDS:
            raise ValueError("univg: phi must be one of %s, got %r" % (", ".join(univg_reward.PHI_KINDS), phi))
        super().__init__(*args, **kwargs)
        names = list(self.reward_func_names)
        if accuracy_reward not in names:
            raise ValueError("univg: no reward function named %r among %r; phi needs the accuracy reward" % (accuracy_reward, names))
        self.univg_phi = phi
        self.univg_phi_power = float(phi_power)
        self._univg_accuracy_index = names.index(accuracy_reward)
        self._univg_rewards = None

    def _calculate_rewards(self, *args, **kwargs):
        # Gathered over processes, one row per completion of the whole batch, in TRL's group order.
        rewards = super()._calculate_rewards(*args, **kwargs)
        self._univg_rewards = rewards
        return rewards

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training or self.univg_phi == "none" or self._univg_rewards is None:
            return out
        accuracy = self._univg_rewards[:, self._univg_accuracy_index].tolist()
        G = self.num_generations
        weights = univg_reward.difficulty_weights(accuracy, [i // G for i in range(len(accuracy))], self.univg_phi, self.univg_phi_power)
        adv = out["advantages"]
        n = adv.shape[0]
        start = self.accelerator.process_index * n  # the slice TRL keeps for this process
        w = torch.tensor(weights[start : start + n], dtype=adv.dtype, device=adv.device)
        out["advantages"] = adv * w.view(-1, *([1] * (adv.dim() - 1)))
        self._metrics["train"]["univg/phi_mean"].append(sum(weights) / len(weights))
        return out
