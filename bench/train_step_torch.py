#!/usr/bin/python3
"""One SFT training step of univg's grounding model in PyTorch, for the side-by-side benchmark.

Same architecture, shapes and parameter count as src/train/model.ts: patch embedding as a matrix
product, patch positions (+ Fourier features of patch centres), image-index embedding, question and
completion position tables, pre-LN blocks with prefix-LM attention masks, ReLU MLP, tied output layer
with coordinate Fourier features, cross-entropy on the completion targets, global-norm clipping and
AdamW. Reads a JSON spec from argv[1], prints one JSON line: seconds per step and facts.

Run by bench/train-step.ts; by hand: /usr/bin/python3 bench/train_step_torch.py '{"B":4,...}'
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def fourier(values, freqs):
    k = torch.arange(freqs, dtype=torch.float32)
    a = math.pi * (2.0 ** k)[None, :] * values[:, None] / 1000.0
    return torch.stack([torch.sin(a), torch.cos(a)], dim=2).reshape(values.shape[0], 2 * freqs)


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, V, Fq = c["dModel"], c["vocabSize"], c["coordFreqs"]
        side = c["imageSize"] // c["patchSize"]
        P = side * side
        pd = c["patchSize"] ** 2 * 3
        self.c, self.P = c, P
        p = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        self.tok = p(V, d)
        self.coord_proj = p(2 * Fq, d)
        self.patch_w = p(pd, d)
        self.patch_b = torch.nn.Parameter(torch.zeros(d))
        self.patch_pos = p(P, d)
        self.xproj = p(2 * Fq, d)
        self.yproj = p(2 * Fq, d)
        self.img_idx = p(c["maxImages"], d)
        self.q_pos = p(c["maxPromptTokens"], d)
        self.c_pos = p(c["maxTargetTokens"], d)
        cf = torch.zeros(V, 2 * Fq)
        cf[c["coordBase"] : c["coordBase"] + c["coordMax"] + 1] = fourier(torch.arange(c["coordMax"] + 1, dtype=torch.float32), Fq)
        self.register_buffer("coord_feat", cf)
        centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 1000
        self.register_buffer("px", fourier(centres.repeat(side), Fq))
        self.register_buffer("py", fourier(centres.repeat_interleave(side), Fq))
        self.blocks = torch.nn.ModuleList()
        for _ in range(c["nLayers"]):
            self.blocks.append(
                torch.nn.ModuleDict(
                    dict(
                        ln1=torch.nn.LayerNorm(d),
                        qkv=torch.nn.Linear(d, 3 * d),
                        o=torch.nn.Linear(d, d),
                        ln2=torch.nn.LayerNorm(d),
                        fc=torch.nn.Linear(d, c["mlpHidden"]),
                        proj=torch.nn.Linear(c["mlpHidden"], d),
                    )
                )
            )
        self.lnf = torch.nn.LayerNorm(d)
        self.out_b = torch.nn.Parameter(torch.zeros(V))

    def forward(self, patches, q_ids, c_in, mask, sel, tgt):
        c = self.c
        B, M = patches.shape[0], patches.shape[1]
        d, H = c["dModel"], c["nHeads"]
        dh = d // H
        E = self.tok + self.coord_feat @ self.coord_proj
        pos = self.patch_pos + self.px @ self.xproj + self.py @ self.yproj
        xp = (patches.reshape(B, M * self.P, -1) @ self.patch_w + self.patch_b) + (pos[None, :, :] + self.img_idx[:M, None, :]).reshape(1, M * self.P, d)
        xq = E[q_ids] + self.q_pos[: q_ids.shape[1]]
        xc = E[c_in] + self.c_pos[: c_in.shape[1]]
        x = torch.cat([xp, xq, xc], 1)
        T = x.shape[1]
        for blk in self.blocks:
            h = blk["ln1"](x)
            q, k, v = blk["qkv"](h).split(d, dim=2)
            q = q.reshape(B, T, H, dh).transpose(1, 2) / math.sqrt(dh)
            k = k.reshape(B, T, H, dh).transpose(1, 2)
            v = v.reshape(B, T, H, dh).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(2, 3) + mask, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, d)
            x = x + blk["o"](o)
            x = x + blk["proj"](torch.relu(blk["fc"](blk["ln2"](x))))
        hc = self.lnf(x[:, T - c_in.shape[1] :].reshape(-1, d))[sel]
        logits = hc @ E.t() + self.out_b
        return F.cross_entropy(logits, tgt, reduction="sum") / tgt.shape[0]


def main():
    spec = json.loads(sys.argv[1])
    c, B, M, Lq, Lc = spec["config"], spec["B"], spec["M"], spec["Lq"], spec["Lc"]
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    torch.manual_seed(spec.get("seed", 0))
    model = Model(c)
    nparams = sum(p.numel() for p in model.parameters())
    side = c["imageSize"] // c["patchSize"]
    P = side * side
    patches = torch.rand(B, M, P, c["patchSize"] ** 2 * 3) * 2 - 1
    V = c["vocabSize"]
    q_ids = torch.randint(8, V, (B, Lq))
    c_in = torch.randint(8, V, (B, Lc))
    tgt_all = torch.randint(8, V, (B, Lc))
    Tp = M * P + Lq
    T = Tp + Lc
    mask = torch.zeros(B, 1, T, T)
    causal = torch.triu(torch.full((Lc, Lc), -1e9), diagonal=1)
    mask[:, :, :Tp, Tp:] = -1e9
    mask[:, :, Tp:, Tp:] = causal
    sel = torch.arange(B * Lc)
    tgt = tgt_all.reshape(-1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(patches, q_ids, c_in, mask, sel, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(spec.get("warmup", 1)):
        step()
    times = []
    for _ in range(spec.get("steps", 3)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        json.dumps(
            dict(
                framework="pytorch",
                version=torch.__version__,
                threads=torch.get_num_threads(),
                params=nparams,
                secondsPerStep=times[len(times) // 2],
                allSeconds=times,
            )
        )
    )


if __name__ == "__main__":
    main()
