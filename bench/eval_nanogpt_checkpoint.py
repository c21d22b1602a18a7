"""Whole-validation loss of a checkpoint written by karpathy/nanoGPT's train.py (baseline fidelity).

Loads nanoGPT's own model class from a nanoGPT checkout (model.py) and the checkpoint's weights, then
evaluates bench/peer_torch.py's `whole_split_loss`: every non-overlapping window of the validation
split (the last 10% of the characters of the corpus, nanoGPT's shakespeare_char/prepare.py split and
sorted-character vocabulary), the windows optlab's models/data.ts wholeTextBatches builds. optlab does
not need this script; bench/results/baseline_fidelity.md uses it to put nanoGPT's own runs on the same
evaluation as optlab's.

Usage: python3 bench/eval_nanogpt_checkpoint.py --nanogpt DIR --ckpt DIR/out-shakespeare-char/ckpt.pt
       [--data data/tinyshakespeare.txt] [--threads 1]
Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_torch import whole_split_loss  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nanogpt", required=True, help="a karpathy/nanoGPT checkout (its model.py is imported)")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--data", default="data/tinyshakespeare.txt")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.nanogpt, "model.py")):
        sys.exit(f"--nanogpt {a.nanogpt}: no model.py there")
    if not os.path.exists(a.ckpt):
        sys.exit(f"--ckpt {a.ckpt}: no such file")
    torch.set_num_threads(a.threads)
    sys.path.insert(0, a.nanogpt)
    from model import GPT, GPTConfig  # noqa: E402  (nanoGPT's model.py)

    ck = torch.load(a.ckpt, map_location="cpu")
    model = GPT(GPTConfig(**ck["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in ck["model"].items()}
    model.load_state_dict(state)
    model.eval()
    with open(a.data, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    val = data[int(0.9 * len(data)) :]
    context = ck["model_args"]["block_size"]

    class Loss(torch.nn.Module):
        def forward(self, x, y):
            return model(x, y)[1]

    loss, windows = whole_split_loss(Loss(), val, context)
    print(json.dumps({"ckpt": a.ckpt, "iter_num": ck["iter_num"], "best_val_loss": float(ck["best_val_loss"]), "whole_val_loss": loss, "whole_val_windows": windows, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
