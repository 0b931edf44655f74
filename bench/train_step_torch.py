#!/usr/bin/python3
"""One SFT step and one GRPO step of univg's grounding model in PyTorch, for the side-by-side benchmark.

Same architecture, shapes and parameter count as src/train/model.ts: patch embedding as a matrix
product, patch positions (+ Fourier features of patch centres), image-index embedding, question and
completion position tables, pre-LN blocks with prefix-LM attention masks, ReLU MLP, tied output layer
with coordinate Fourier features, cross-entropy on the completion targets, global-norm clipping and
AdamW. The GRPO step (as bench/lib/step-bench.ts times it): per prompt, G rollouts of exactly
rolloutTokens tokens decoded with a KV cache from one shared prefix, the frozen reference's
log-probabilities, then one clipped-ratio + k3-KL update over all groups. Reads a JSON spec from argv[1]
(`device`: cpu or cuda), prints one JSON line: seconds per step and facts.

Run by bench/train-step.ts and bench/gpu/check.ts; by hand: python3 bench/train_step_torch.py '{"B":4,...}'
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

    def table(self):
        return self.tok + self.coord_feat @ self.coord_proj

    def prefix_embed(self, patches, q_ids, E):
        c = self.c
        B, M = patches.shape[0], patches.shape[1]
        d = c["dModel"]
        pos = self.patch_pos + self.px @ self.xproj + self.py @ self.yproj
        xp = (patches.reshape(B, M * self.P, -1) @ self.patch_w + self.patch_b) + (pos[None, :, :] + self.img_idx[:M, None, :]).reshape(1, M * self.P, d)
        xq = E[q_ids] + self.q_pos[: q_ids.shape[1]]
        return torch.cat([xp, xq], 1)

    def blocks_forward(self, x, mask, caches=None):
        c = self.c
        B, T = x.shape[0], x.shape[1]
        d, H = c["dModel"], c["nHeads"]
        dh = d // H
        new = []
        for i, blk in enumerate(self.blocks):
            h = blk["ln1"](x)
            q, k, v = blk["qkv"](h).split(d, dim=2)
            q = q.reshape(B, T, H, dh).transpose(1, 2) / math.sqrt(dh)
            k = k.reshape(B, T, H, dh).transpose(1, 2)
            v = v.reshape(B, T, H, dh).transpose(1, 2)
            if caches is not None:
                if caches[i] is not None:
                    k = torch.cat([caches[i][0], k], 2)
                    v = torch.cat([caches[i][1], v], 2)
                new.append((k, v))
            att = q @ k.transpose(2, 3)
            if mask is not None:
                att = att + mask
            o = (torch.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
            x = x + blk["o"](o)
            x = x + blk["proj"](torch.relu(blk["fc"](blk["ln2"](x))))
        return x, new

    def completion_logits(self, patches, q_ids, c_in, mask):
        E = self.table()
        xc = E[c_in] + self.c_pos[: c_in.shape[1]]
        x = torch.cat([self.prefix_embed(patches, q_ids, E), xc], 1)
        T = x.shape[1]
        x, _ = self.blocks_forward(x, mask)
        d = self.c["dModel"]
        hc = self.lnf(x[:, T - c_in.shape[1] :].reshape(-1, d))
        return hc @ E.t() + self.out_b

    def forward(self, patches, q_ids, c_in, mask, sel, tgt):
        logits = self.completion_logits(patches, q_ids, c_in, mask)[sel]
        return F.cross_entropy(logits, tgt, reduction="sum") / tgt.shape[0]

    @torch.no_grad()
    def rollouts(self, patches, q_ids, G, T, gen):
        """G sampled completions of exactly T tokens from one prefix (KV cache, temperature 1)."""
        E = self.table()
        x = self.prefix_embed(patches, q_ids, E)
        x, caches = self.blocks_forward(x, None, [None] * len(self.blocks))
        caches = [(k.repeat(G, 1, 1, 1), v.repeat(G, 1, 1, 1)) for k, v in caches]
        tok = torch.ones(G, dtype=torch.long, device=patches.device)
        out = []
        for t in range(T):
            xt = (E[tok] + self.c_pos[t])[:, None, :]
            h, caches = self.blocks_forward(xt, None, caches)
            logits = self.lnf(h[:, 0]) @ E.t() + self.out_b
            tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
            out.append(tok)
        return torch.stack(out, 1)


def prefix_lm_mask(B, Tp, Lc, device):
    T = Tp + Lc
    mask = torch.zeros(B, 1, T, T, device=device)
    mask[:, :, :Tp, Tp:] = -1e9
    mask[:, :, Tp:, Tp:] = torch.triu(torch.full((Lc, Lc), -1e9, device=device), diagonal=1)
    return mask


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    spec = json.loads(sys.argv[1])
    c, B, M, Lq, Lc = spec["config"], spec["B"], spec["M"], spec["Lq"], spec["Lc"]
    device = torch.device(spec.get("device", "cpu"))
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    torch.manual_seed(spec.get("seed", 0))
    model = Model(c).to(device)
    nparams = sum(p.numel() for p in model.parameters())
    side = c["imageSize"] // c["patchSize"]
    P = side * side
    V = c["vocabSize"]
    patches = torch.rand(B, M, P, c["patchSize"] ** 2 * 3, device=device) * 2 - 1
    q_ids = torch.randint(8, V, (B, Lq), device=device)
    c_in = torch.randint(8, V, (B, Lc), device=device)
    tgt = torch.randint(8, V, (B, Lc), device=device).reshape(-1)
    mask = prefix_lm_mask(B, M * P + Lq, Lc, device)
    sel = torch.arange(B * Lc, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def sft_step():
        opt.zero_grad(set_to_none=True)
        loss = model(patches, q_ids, c_in, mask, sel, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    def timed(f, n, warmup):
        for _ in range(warmup):
            f()
        times = []
        for _ in range(n):
            sync(device)
            t0 = time.perf_counter()
            r = f()
            sync(device)
            times.append((time.perf_counter() - t0, r))
        times.sort(key=lambda x: x[0])
        return times[len(times) // 2]

    sft_seconds, _ = timed(sft_step, spec.get("steps", 3), spec.get("warmup", 1))

    grpo = None
    if spec.get("grpoSteps", 0) > 0:
        G, Tr, nP = spec["G"], spec["rolloutTokens"], spec["prompts"]
        reference = Model(c).to(device)
        reference.load_state_dict(model.state_dict())
        prompt_patches = [torch.rand(1, M, P, c["patchSize"] ** 2 * 3, device=device) * 2 - 1 for _ in range(nP)]
        prompt_ids = [torch.randint(8, V, (1, Lq), device=device) for _ in range(nP)]
        gen = torch.Generator(device=device)
        gen.manual_seed(0)
        gmask = prefix_lm_mask(G, M * P + Lq, Tr, device)
        adv = torch.tensor([1.0 if g % 2 else -1.0 for g in range(G)], device=device)[:, None]

        def grpo_step():
            t0 = time.perf_counter()
            outs = [model.rollouts(pp, qi, G, Tr, gen) for pp, qi in zip(prompt_patches, prompt_ids)]
            sync(device)
            t1 = time.perf_counter()
            inputs = []
            with torch.no_grad():
                refs = []
                for pp, qi, o in zip(prompt_patches, prompt_ids, outs):
                    c_in_g = torch.cat([torch.ones(G, 1, dtype=torch.long, device=device), o[:, :-1]], 1)
                    inputs.append((pp.expand(G, -1, -1, -1), qi.expand(G, -1), c_in_g, o))
                    lg = reference.completion_logits(inputs[-1][0], inputs[-1][1], c_in_g, gmask)
                    refs.append(torch.log_softmax(lg, -1).gather(1, o.reshape(-1, 1))[:, 0].reshape(G, Tr))
            sync(device)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for (pp, qi, c_in_g, o), ref in zip(inputs, refs):
                lg = model.completion_logits(pp, qi, c_in_g, gmask)
                logp = torch.log_softmax(lg, -1).gather(1, o.reshape(-1, 1))[:, 0].reshape(G, Tr)
                ratio = torch.exp(logp - logp.detach())
                pg = -torch.min(ratio * adv, torch.clamp(ratio, 0.8, 1.2) * adv) * 1.3
                d = ref - logp
                kl = torch.exp(d) - d - 1
                loss = (pg + 0.04 * kl).mean(1).sum() / (nP * G)
                loss.backward()
                total += loss.item()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sync(device)
            t3 = time.perf_counter()
            return dict(rolloutSeconds=t1 - t0, referenceSeconds=t2 - t1, updateSeconds=t3 - t2)

        secs, parts = timed(grpo_step, spec["grpoSteps"], 1)
        grpo = dict(seconds=secs, **parts)

    print(
        json.dumps(
            dict(
                framework="pytorch",
                version=torch.__version__,
                device=str(device) + (":" + torch.cuda.get_device_name(device) if device.type == "cuda" else ""),
                threads=torch.get_num_threads(),
                params=nparams,
                secondsPerStep=sft_seconds,
                grpo=grpo,
            )
        )
    )


if __name__ == "__main__":
    main()
