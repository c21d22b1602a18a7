"""PyTorch peer of optlab's GPT benchmarks: the same models and steps, timed the same way.

optlab's `bench` runs this script when a Python with torch is installed (the project does not need
it) and prints its figures next to optlab's from the same run. Two cases:

  tiny    the GPT of `gpt-train-step` (bench/suites.ts): vocab 65, context 64, width 128, 4 heads,
          2 layers, batch 16, one fixed random batch, AdamW (lr 1e-3, betas (0.9, 0.999), weight
          decay 0.01 on every parameter): forward + backward + optimizer step.
  recipe  nanoGPT's CPU recipe for Tiny Shakespeare (bench/recipe.ts): 4 layers, width 128, 4 heads,
          context 64, batch 12, dropout 0, no biases, tied embeddings, AdamW lr 1e-3 with 100 warmup
          steps and cosine to 1e-4 at 2000, betas (0.9, 0.99), weight decay 0.1 on 2-D weights,
          gradient clipping at 1.0, a fresh random batch of the training split per iteration and
          the loss read back every iteration (nanoGPT's log_interval 1).

Both report the median wall time per iteration over iterations [--from, --iters) (1-based
iteration i is index i - 1), evaluation excluded, split into data, forward (to the loss), backward,
optimizer (clipping, step, zeroing gradients) and the loss read-back. CPU kernels in PyTorch are
synchronous, so a clock between phases times each phase.

Usage: python3 bench/peer_torch.py --case tiny|recipe [--threads 2] [--iters 300] [--from 100]
       [--data data/tinyshakespeare.txt] [--seed 0]
       [--gelu tanh|erf] [--schedule optlab|nanogpt] [--eval-whole] [--eval-random N]
       [--decay rank2|matrix] [--weights FILE --eval-only]
Prints one JSON object on stdout.

Baseline fidelity (bench/results/baseline_fidelity.md), recipe case only: `--gelu erf` is nanoGPT's
nn.GELU(); `--decay matrix` decays the block matrices only, as optlab's recipe (decayOn 'matrix'),
instead of every 2-D tensor with the embeddings (nanoGPT, the default); `--schedule nanogpt` is train.py's get_lr (warmup (it+1)/101 for 0-based it < 100, cosine
over (it-100)/1900 after); `--eval-whole` adds `whole_val_loss`, the mean loss over every
non-overlapping window of the validation split (`whole_split_loss`, the windows optlab's
models/data.ts wholeTextBatches builds); `--eval-random N` adds `random_val_loss`, train.py's
estimate_loss: the mean over N random batches of 12 windows (train.py's eval_iters). `--weights FILE`
starts from the weights optlab wrote with `npx tsx bench/baseline_fidelity.ts --export-weights FILE`
(optlab's [fan_in, fan_out] matrices transposed to nn.Linear's [out, in]); with `--eval-only` no step
is taken, so the two tools' evaluations of the same weights can be compared.

Differs from nanoGPT's model.py: GELU in tanh form and layer norm without bias, as optlab's GPT
(models/gpt.ts); attention through F.scaled_dot_product_attention(is_causal=True) where this torch
has it (2.x), else the explicit masked softmax (1.13); nanoGPT does the same.
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """Layer norm over the last axis with a gain and no bias (torch 1.13's nn.LayerNorm cannot drop the bias)."""

    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class Block(nn.Module):
    """Pre-LN transformer block: causal self-attention then a GELU MLP (tanh form or erf form), each on a residual branch."""

    def __init__(self, width, n_head, context, gelu="tanh"):
        super().__init__()
        self.n_head = n_head
        self.gelu = "none" if gelu == "erf" else "tanh"
        self.ln1 = LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.ln2 = LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width, bias=False)
        self.fc_proj = nn.Linear(4 * width, width, bias=False)
        self.sdpa = hasattr(F, "scaled_dot_product_attention")
        if not self.sdpa:
            mask = torch.full((context, context), float("-inf")).triu(1)
            self.register_buffer("mask", mask, persistent=False)

    def attention(self, x):
        b, t, c = x.shape
        hd = c // self.n_head
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, hd).transpose(1, 2) for z in (q, k, v))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd)) + self.mask[:t, :t]
            y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate=self.gelu))


class GPT(nn.Module):
    """Token and position embeddings, pre-LN blocks, final layer norm, lm head tied to the token embedding."""

    def __init__(self, vocab, context, width, n_head, n_layer, gelu="tanh"):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, n_head, context, gelu) for _ in range(n_layer)])
        self.ln_f = LayerNorm(width)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, x, y):
        t = x.shape[1]
        h = self.wte(x) + self.wpe.weight[:t]
        for block in self.blocks:
            h = block(h)
        logits = self.ln_f(h) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), y.reshape(-1))


def cosine_lr(it, warmup=100, total=2000, lr=1e-3, floor=1e-4):
    """Linear warmup over `warmup` steps (1-based), then cosine from lr to floor at `total` (optlab's warmupCosine)."""
    if it <= warmup:
        return lr * it / warmup
    if it >= total:
        return floor
    ratio = (it - warmup) / (total - warmup)
    return floor + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - floor)


def load_optlab_weights(model, path):
    """Copies the weights optlab exported (JSON {name: {shape, data}}, optlab's parameter names and
    [fan_in, fan_out] layout, models/gpt.ts) into this GPT; every parameter must be matched."""
    with open(path, encoding="utf-8") as f:
        w = json.load(f)
    names = {"wte.weight": ("wte", False), "wpe.weight": ("wpe", False), "ln_f.weight": ("lnF.g", False)}
    for i in range(len(model.blocks)):
        p = f"blocks.{i}"
        names.update({f"{p}.ln1.weight": (f"{p}.ln1.g", False), f"{p}.ln2.weight": (f"{p}.ln2.g", False),
                      f"{p}.qkv.weight": (f"{p}.attn.qkv", True), f"{p}.proj.weight": (f"{p}.attn.proj", True),
                      f"{p}.fc.weight": (f"{p}.mlp.fc", True), f"{p}.fc_proj.weight": (f"{p}.mlp.proj", True)})
    params = dict(model.named_parameters())
    if set(params) != set(names):
        sys.exit(f"--weights: the model's parameters {sorted(set(params) ^ set(names))} have no mapping")
    if set(w) != {v[0] for v in names.values()}:
        sys.exit(f"--weights {path}: expected optlab parameters {sorted(v[0] for v in names.values())}, got {sorted(w)}")
    with torch.no_grad():
        for tname, (oname, transpose) in names.items():
            t = torch.tensor(w[oname]["data"], dtype=torch.float32).view(*w[oname]["shape"])
            t = t.t() if transpose else t
            if t.shape != params[tname].shape:
                sys.exit(f"--weights: {oname} has shape {list(t.shape)} here, the model's {tname} is {list(params[tname].shape)}")
            params[tname].copy_(t)


def nanogpt_lr(it, warmup=100, total=2000, lr=1e-3, floor=1e-4):
    """nanoGPT train.py's get_lr for 0-based iteration `it`: warmup lr (it+1)/(warmup+1), cosine to floor at `total`."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > total:
        return floor
    ratio = (it - warmup) / (total - warmup)
    return floor + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - floor)


@torch.no_grad()
def whole_split_loss(model, tokens, context, batch=64):
    """Mean next-token loss over every target of the non-overlapping windows x = tokens[i:i+T],
    y = tokens[i+1:i+1+T], i = 0, T, 2T, ... while i + T + 1 <= len(tokens) (models/data.ts
    wholeTextBatches); `batch` windows a forward pass. Returns (loss, windows)."""
    windows = (len(tokens) - 1) // context
    total, count = 0.0, 0
    for w0 in range(0, windows, batch):
        b = min(batch, windows - w0)
        x = tokens[w0 * context : (w0 + b) * context].view(b, context)
        y = tokens[w0 * context + 1 : (w0 + b) * context + 1].view(b, context)
        total += model(x, y).item() * y.numel()
        count += y.numel()
    return total / count, windows


@torch.no_grad()
def random_batches_loss(model, tokens, context, batch, n):
    """nanoGPT train.py's estimate_loss on one split: the mean of n losses on random batches of `batch` windows."""
    losses = []
    for _ in range(n):
        ix = torch.randint(len(tokens) - context, (batch,))
        x = torch.stack([tokens[i : i + context] for i in ix])
        y = torch.stack([tokens[i + 1 : i + 1 + context] for i in ix])
        losses.append(model(x, y).item())
    return sum(losses) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", choices=["tiny", "recipe"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--from", dest="start", type=int, default=100)
    ap.add_argument("--data", default="data/tinyshakespeare.txt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gelu", choices=["tanh", "erf"], default="tanh")
    ap.add_argument("--schedule", choices=["optlab", "nanogpt"], default="optlab")
    ap.add_argument("--eval-whole", action="store_true")
    ap.add_argument("--eval-random", type=int, default=0)
    ap.add_argument("--decay", choices=["rank2", "matrix"], default="rank2")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--eval-only", action="store_true")
    a = ap.parse_args()
    if a.threads < 1:
        sys.exit(f"--threads must be >= 1, got {a.threads}")
    if not 0 <= a.start < a.iters:
        sys.exit(f"--from must be in [0, --iters), got {a.start} and {a.iters}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tiny = a.case == "tiny"
    vocab, context = 65, 64
    layers, batch = (2, 16) if tiny else (4, 12)
    if tiny:
        fixed = (torch.randint(0, vocab, (batch, context)), torch.randint(0, vocab, (batch, context)))
        next_batch = lambda: fixed  # noqa: E731
    else:
        with open(a.data, encoding="utf-8") as f:
            text = f.read()
        chars = sorted(set(text))
        vocab = len(chars)
        index = {ch: i for i, ch in enumerate(chars)}
        data = torch.tensor([index[ch] for ch in text], dtype=torch.long)
        train = data[: int(0.9 * len(data))]
        val = data[int(0.9 * len(data)) :]

        def next_batch():
            ix = torch.randint(len(train) - context - 1, (batch,))
            x = torch.stack([train[i : i + context] for i in ix])
            y = torch.stack([train[i + 1 : i + 1 + context] for i in ix])
            return x, y

    model = GPT(vocab, context, 128, 4, layers, a.gelu)
    if a.weights:
        load_optlab_weights(model, a.weights)
    if tiny:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
    else:
        decayed = (lambda n, p: p.dim() >= 2) if a.decay == "rank2" else (lambda n, p: p.dim() >= 2 and n.startswith("blocks."))
        decay = [p for n, p in model.named_parameters() if decayed(n, p)]
        rest = [p for n, p in model.named_parameters() if not decayed(n, p)]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99))
    phases = {k: [] for k in ("data", "forward", "backward", "optimizer", "readback", "total")}
    loss_value = float("nan")
    for it in range(0 if a.eval_only else a.iters):
        t0 = time.perf_counter()
        x, y = next_batch()
        t1 = time.perf_counter()
        loss = model(x, y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        if not tiny:
            for g in opt.param_groups:
                g["lr"] = nanogpt_lr(it) if a.schedule == "nanogpt" else cosine_lr(it + 1)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        if not tiny or it == a.iters - 1:
            loss_value = loss.item()
        t5 = time.perf_counter()
        if it >= a.start:
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)):
                phases[k].append(1000 * v)
    n_params = sum(p.numel() for p in model.parameters())
    out = {
        "case": a.case,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "attention": "scaled_dot_product_attention" if hasattr(F, "scaled_dot_product_attention") else "explicit masked softmax",
        "params": n_params,
        "batch": batch,
        "context": context,
        "layers": layers,
        "iters": a.iters,
        "from": a.start,
        "samples": len(phases["total"]),
        "loss": loss_value if math.isfinite(loss_value) else None,
    }
    if phases["total"]:
        out["median_ms"] = {k: statistics.median(v) for k, v in phases.items()}
        out["mean_ms"] = statistics.fmean(phases["total"])
        out["min_ms"] = min(phases["total"])
        out["max_ms"] = max(phases["total"])
    if not tiny:
        out["gelu"] = a.gelu
        out["schedule"] = a.schedule
        out["decay"] = a.decay
        out["seed"] = a.seed
        model.eval()
        if a.eval_whole:
            out["whole_val_loss"], out["whole_val_windows"] = whole_split_loss(model, val, context)
        if a.eval_random > 0:
            out["random_val_loss"] = random_batches_loss(model, val, context, batch, a.eval_random)
            out["random_val_batches"] = a.eval_random
    print(json.dumps(out))


if __name__ == "__main__":
    main()
