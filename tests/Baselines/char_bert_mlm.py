"""PyTorch's side of the character BERT (models/char_bert.nd): the same sizes, initialisation, masking and loss, trained
on the same text, to tell the model's own learning curve from the implementation's.

    /usr/bin/python3 tests/Baselines/char_bert_mlm.py TEXT [--lr 5e-4] [--steps 1000] [--batch 8] [--window 64]
                                                           [--warmup 0] [--pre-ln] [--every 100]
TEXT is a text file (the fortunes: cat the data files of /usr/share/games/fortunes); its last tenth is held out.
Embeddings summed and layer-normed, nn.TransformerEncoder (4 layers of 128, 4 heads, d_ff 512, exact GELU, post-LN
unless --pre-ln, eps 1e-12), the MLM head (dense, GELU, layer norm, output tied to the embedding plus a bias), N(0, 0.02)
weights; round(0.15·T) positions per window, 80/10/10; loss Σ w·ce / Σ w. Prints, every --every steps, the step, the
training loss in bits per masked character and the masked-token accuracy on 40 held-out windows masked the same way
each time. Needs only torch.
"""
import argparse
import math
import random

import torch
import torch.nn as nn

VOCAB, MASK = 97, 96


def encode(text):
    text = text.replace("\t", " ")
    return [0 if c == "\n" else ord(c) - 31 for c in text if c == "\n" or " " <= c <= "~"]


class CharBert(nn.Module):
    def __init__(self, window, d=128, layers=4, heads=4, ff=512, pre_ln=False):
        super().__init__()
        self.word = nn.Embedding(VOCAB, d)
        self.position = nn.Parameter(torch.randn(window, d) * 0.02)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu", batch_first=True,
                                           layer_norm_eps=1e-12, norm_first=pre_ln)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.dense = nn.Linear(d, d)
        self.head_norm = nn.LayerNorm(d, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(VOCAB))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0, 0.02)

    def forward(self, tokens):
        h = self.encoder(self.norm(self.word(tokens) + self.position))
        h = self.head_norm(nn.functional.gelu(self.dense(h)))
        return h @ self.word.weight.T + self.bias


def mask(window, rng):
    tokens, weights = list(window), [0.0] * len(window)
    for p in rng.sample(range(len(window)), max(1, round(0.15 * len(window)))):
        weights[p] = 1.0
        r = rng.random()
        if r < 0.8:
            tokens[p] = MASK
        elif r < 0.9:
            tokens[p] = rng.randrange(96)
    return tokens, weights


def batch(text, starts, window, rng):
    rows = [(text[s:s + window],) + mask(text[s:s + window], rng) for s in starts]
    return [torch.tensor([r[i] for r in rows]) for i in (1, 0, 2)]   # tokens, targets, weights


def main():
    a = argparse.ArgumentParser()
    a.add_argument("text")
    a.add_argument("--lr", type=float, default=5e-4)
    a.add_argument("--steps", type=int, default=1000)
    a.add_argument("--batch", type=int, default=8)
    a.add_argument("--window", type=int, default=64)
    a.add_argument("--warmup", type=int, default=0)
    a.add_argument("--pre-ln", action="store_true")
    a.add_argument("--every", type=int, default=100)
    args = a.parse_args()
    torch.manual_seed(0)
    rng = random.Random(0)
    data = encode(open(args.text, encoding="utf-8", errors="ignore").read())
    cut = len(data) - len(data) // 10
    train, held = data[:cut], data[cut:]
    model = CharBert(args.window, pre_ln=args.pre_ln)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup) if args.warmup else 1.0)
    for step in range(1, args.steps + 1):
        starts = [rng.randrange(len(train) - args.window) for _ in range(args.batch)]
        x, y, w = batch(train, starts, args.window, rng)
        ce = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1), reduction="none").reshape(y.shape)
        loss = (ce * w).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % args.every == 0:
            with torch.no_grad():
                x, y, w = batch(held, [b * args.window for b in range(40)], args.window, random.Random(1))
                accuracy = ((model(x).argmax(-1) == y).float() * w).sum() / w.sum()
            print(f"{step} {loss.item() / math.log(2):.3f} {accuracy.item():.4f}", flush=True)


if __name__ == "__main__":
    main()
