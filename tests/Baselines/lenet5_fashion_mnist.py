"""The LeNet-5 recipe of models/lenet5.nd in PyTorch, for side-by-side comparison on the same machine.

Same data (Debian's dataset-fashion-mnist, 28x28 padded to 32x32, scaled to [0, 1]), same network
(conv 6@5 tanh, avgpool 2, conv 16@5 tanh, avgpool 2, conv 120@5 tanh, dense 84 tanh, dense 10),
same optimizer (Adam, lr 1e-3), batch 64, cross-entropy. Run with Debian's Python:
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tests/Baselines/lenet5_fashion_mnist.py [epochs]
"""
import gzip, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(1)
DIR = os.environ.get("NEURODSL_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def idx(name):
    path = os.path.join(DIR, name)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
        data = f.read()
    _, _, kind, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def load(prefix):
    x = idx(prefix + "-images-idx3-ubyte").astype(np.float32) / 255.0
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None, :, :]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(idx(prefix + "-labels-idx1-ubyte").astype(np.int64))


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.logits = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
        x = torch.tanh(self.c5(x)).flatten(1)
        return self.logits(torch.tanh(self.f6(x)))


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr))
        start = time.time()
        total = 0.0
        steps = 0
        for i in range(0, len(xtr) - 63, 64):
            idx_ = perm[i:i + 64]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx_]), ytr[idx_])
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
        seconds = time.time() - start
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xte[i:i + 1000]) for i in range(0, len(xte), 1000)])
            acc = (out.argmax(1) == yte).float().mean().item()
            test_loss = F.cross_entropy(out, yte).item()
        print(f"epoch {epoch}  train loss {total / steps:.4f}  test loss {test_loss:.4f}  "
              f"test accuracy {acc * 100:.2f}%  {steps * 64 / seconds:.0f} examples/s  {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
