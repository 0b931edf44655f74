"""Plain-Python check of the exported difficulty weight against univg's GRPO objective.

For each group of completions it computes rewards with the exported reward plugins, advantages with the
exported verl estimator's arithmetic (verl_difficulty.advantages_from_packed, from packed scores as verl
would sum them: float64, and rounded to float32 as verl's reward tensor holds them) and with the TRL
subclass's (TRL's group normalisation times univg_reward.difficulty_weights), then the loss each trainer
computes from those advantages, restated here from their code:
  verl: vanilla policy loss with dual clip (clip_ratio_c 3), loss_agg_mode seq-mean-token-mean, plus
        kl_loss_coef * low_var_kl (k3, clamped to [-10, 10]) aggregated the same way;
  TRL:  loss_type "grpo": per-token -min(r * A, clip(r) * A) + beta * k3, token mean per sequence, mean.
stdin: {"verl": dir, "trl": dir, "beta", "epsilon", "phi", "phi_power", "groups": [{"texts", "gts", "logp", "old", "ref"}]}
"""
import json
import math
import struct
import sys


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def verl_loss(adv, logp, old, ref, eps, beta, clip_c=3.0):
    pg_seq, kl_seq = [], []
    for a, lp, ol, rf in zip(adv, logp, old, ref):
        pg_tok, kl_tok = [], []
        for p, o, r in zip(lp, ol, rf):
            ratio = math.exp(min(20.0, max(-20.0, p - o)))
            l1 = -a * ratio
            l2 = -a * min(1 + eps, max(1 - eps, ratio))
            c1 = max(l1, l2)
            c2 = min(-a * clip_c, c1)
            pg_tok.append(c2 if a < 0 else c1)
            k = min(20.0, max(-20.0, r - p))
            kl_tok.append(min(10.0, max(-10.0, math.exp(k) - k - 1)))
        pg_seq.append(sum(pg_tok) / (len(pg_tok) + 1e-8))
        kl_seq.append(sum(kl_tok) / (len(kl_tok) + 1e-8))
    return sum(pg_seq) / len(pg_seq) + beta * sum(kl_seq) / len(kl_seq)


def trl_loss(adv, logp, old, ref, eps, beta):
    seqs = []
    for a, lp, ol, rf in zip(adv, logp, old, ref):
        toks = []
        for p, o, r in zip(lp, ol, rf):
            ratio = math.exp(p - o)
            per = -min(ratio * a, min(1 + eps, max(1 - eps, ratio)) * a)
            toks.append(per + beta * (math.exp(r - p) - (r - p) - 1))
        seqs.append(sum(toks) / max(len(toks), 1))
    return sum(seqs) / len(seqs)


def main():
    args = json.load(sys.stdin)
    sys.path[:0] = [args["verl"], args["trl"]]
    import trl_rewards
    import univg_reward
    import verl_difficulty
    import verl_reward

    settings = {"phi": args["phi"], "phi_power": args["phi_power"], "eps": univg_reward.ADVANTAGE_EPS, "std": "sample"}
    out = []
    for g in args["groups"]:
        texts, gts = g["texts"], g["gts"]
        index = ["uid-0"] * len(texts)
        packed = [verl_reward.compute_score("univg", t, gt, pack_format=True)["score"] for t, gt in zip(texts, gts)]
        adv_verl = verl_difficulty.advantages_from_packed(packed, index, settings)
        adv_verl32 = verl_difficulty.advantages_from_packed([f32(s) for s in packed], index, settings)
        chats = [[{"role": "assistant", "content": t}] for t in texts]
        acc = trl_rewards.univg_accuracy(chats, gts)
        fmt = trl_rewards.univg_format(chats, solution=gts)
        totals = [a + f for a, f in zip(acc, fmt)]
        m = univg_reward._mean(totals)
        s = univg_reward._std(totals, "sample")
        weights = univg_reward.difficulty_weights(acc, [i // len(texts) for i in range(len(texts))], args["phi"], args["phi_power"])
        adv_trl = [w * (r - m) / (s + 1e-4) for w, r in zip(weights, totals)]
        out.append({
            "advVerl": adv_verl,
            "advVerl32": adv_verl32,
            "advTrl": adv_trl,
            "lossVerl": verl_loss(adv_verl, g["logp"], g["old"], g["ref"], args["epsilon"], args["beta"]),
            "lossTrl": trl_loss(adv_trl, g["logp"], g["old"], g["ref"], args["epsilon"], args["beta"]),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
