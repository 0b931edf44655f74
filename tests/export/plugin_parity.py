"""Runs every reward plugin of a univg export on the reward parity cases, through each trainer's own
calling convention. stdin: {"plugins": [dirs], "cases": [{"text": str, "gt": GroundTruth JSON text}]}.
stdout: one result object per case; floats round-trip exactly through json.
"""
import json
import sys


def main():
    args = json.load(sys.stdin)
    verl_dir, easyr1_dir, trl_dir, vlmr1_dir = args["plugins"]
    # Each export ships its own copy of univg_reward.py; they are identical, so one import serves all four.
    sys.path[:0] = [verl_dir, easyr1_dir, trl_dir, vlmr1_dir]
    import verl_reward, easyr1_reward, trl_rewards, vlmr1_reward  # noqa: E401

    cases = args["cases"]
    texts = [c["text"] for c in cases]
    gts = [c["gt"] for c in cases]
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    easy = easyr1_reward.compute_score([{"response": t, "response_length": len(t), "ground_truth": g} for t, g in zip(texts, gts)])
    trl_acc = trl_rewards.univg_accuracy(chats, gts, prompts=None, completion_ids=None)
    trl_fmt = trl_rewards.univg_format(chats, solution=gts)
    vlm_acc = vlmr1_reward.univg_accuracy(chats, ["<answer> %s </answer>" % json.loads(g)["bbox_px"] for g in gts], univg_gt=gts)
    vlm_fmt = vlmr1_reward.REWARD_FUNCS["univg_format"](chats, univg_gt=gts)
    out = []
    for i, (t, g) in enumerate(zip(texts, gts)):
        v = verl_reward.compute_score("univg", t, g, extra_info={"index": i})
        p = verl_reward.compute_score("univg", t, g, extra_info={"index": i}, pack_format=True)
        out.append({
            "verl": [v["score"], v["acc"], v["format"]],
            "verlPacked": p["score"],
            "easyr1": [easy[i]["overall"], easy[i]["accuracy"], easy[i]["format"]],
            "trl": [trl_acc[i], trl_fmt[i]],
            "vlmr1": [vlm_acc[i], vlm_fmt[i]],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
