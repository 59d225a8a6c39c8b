"""Baseline timings for `neurodsl bench`, printed as one JSON object on stdout.

OpenBLAS sgemm through numpy at 256..2048 and on the MLP's three training products, and PyTorch training steps (Adam) and forward passes for the MLP
784-256-256-10 (batch 128), LeNet-5 (batch 64), nn.TransformerEncoderLayer(256, 4, 1024, dropout=0,
batch_first=True) at sequence 128, batch 8, with an MSE loss (models/transformer_layer.nd; its forward pass runs in
eval mode, PyTorch's fused inference path for this layer), a layer norm over [8, 128, 768], and one LSTM layer (models/lstm.nd: input 64, hidden 256,
sequence 100, batch 32). Median of many
repetitions after warm-up. Fair set-up:
2 threads, OMP_WAIT_POLICY=PASSIVE (set by the caller), OPENBLAS_CORETYPE left unset. Run with Debian's
/usr/bin/python3 (python3-numpy, python3-torch). An optional argument, comma-separated case names (sgemm, mlp,
lenet5, transformer, layer_norm, lstm), limits the run to those cases (`neurodsl bench --cases`).
"""
import json, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(__file__))
out = {}
wanted = set(sys.argv[1].split(",")) if len(sys.argv) > 1 else None


def want(case):
    return wanted is None or case in wanted


def warm_up(fn, least):
    """At least `least` calls and at least one second: PyTorch's first steps of a layer are slow (allocator, oneDNN
    primitives), and a case run alone (`--cases transformer`) has no earlier case to warm it: five steps left the
    Transformer layer's median at 70-90 ms against 28-35 ms warm."""
    start = time.perf_counter()
    calls = 0
    while calls < least or time.perf_counter() - start < 1.0:
        fn()
        calls += 1

try:
    import numpy as np
    rng = np.random.default_rng(0)
    for n in (256, 512, 1024, 2048) if want("sgemm") else ():
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        reps = max(5, int(2e10 / (2 * n ** 3)))
        for _ in range(3):
            a @ b
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        out[f"sgemm_{n}_ms"] = statistics.median(times) * 1e3
    # The MLP's training products at batch 128 (GemmProduct.BenchShapes): y = x·Wᵀ, dX = dY·W, dW = dYᵀ·X; numpy
    # passes the transposes to sgemm as flags (no copies), as NeuroDsl's kernels read them in place.
    x = rng.standard_normal((128, 784), dtype=np.float32)
    w = rng.standard_normal((256, 784), dtype=np.float32)
    dy = rng.standard_normal((128, 256), dtype=np.float32)
    for key, fn in (("128x784x256_tb", lambda: x @ w.T), ("128x256x784", lambda: dy @ w),
                    ("256x128x784_ta", lambda: dy.T @ x)) if want("sgemm") else ():
        for _ in range(3):
            fn()
        times = []
        for _ in range(200):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[f"sgemm_{key}_ms"] = statistics.median(times) * 1e3
except ImportError as e:
    out["numpy_error"] = str(e)

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from lenet5_fashion_mnist import LeNet5
    torch.set_num_threads(2)
    torch.manual_seed(0)

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.h1, self.h2, self.logits = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)

        def forward(self, x):
            return self.logits(F.relu(self.h2(F.relu(self.h1(x)))))

    def bench(name, model, shape, batch, steps=60, target=None, eval_forward=False):
        if not want(name):
            return
        x = torch.rand((batch,) + shape)
        y = torch.randint(0, 10, (batch,)) if target is None else torch.rand((batch,) + target)
        loss_fn = F.cross_entropy if target is None else F.mse_loss
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()

        def forward():
            model.train(not eval_forward)
            with torch.no_grad():
                model(x)
            model.train()

        for fn, key in ((step, "train"), (forward, "forward")):
            warm_up(fn, 5)
            times = []
            for _ in range(steps):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            out[f"{name}_{key}_ms"] = statistics.median(times) * 1e3

    bench("mlp", Mlp(), (784,), 128)
    bench("lenet5", LeNet5(), (1, 32, 32), 64)
    layer = nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    bench("transformer", layer, (128, 256), 8, steps=20, target=(128, 256), eval_forward=True)

    # Layer norm over [8, 128, 768] with weight and bias, loss mean(y * r): PyTorch's fused layer_norm kernels.
    ln = nn.LayerNorm(768)
    x, r = torch.rand(8, 128, 768), torch.rand(8, 128, 768)
    ln_opt = torch.optim.Adam(ln.parameters(), lr=1e-3)

    def ln_step():
        ln_opt.zero_grad()
        loss = (ln(x) * r).mean()
        loss.backward()
        ln_opt.step()
        loss.item()

    def ln_forward():
        with torch.no_grad():
            ln(x)

    for fn, key in ((ln_step, "train"), (ln_forward, "forward")) if want("layer_norm") else ():
        warm_up(fn, 5)
        times = []
        for _ in range(60):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[f"layer_norm_{key}_ms"] = statistics.median(times) * 1e3

    # One LSTM layer (models/lstm.nd): input 64, hidden 256, sequence 100, batch 32, every step's h against a target.
    lstm = nn.LSTM(64, 256, batch_first=True)
    x = torch.rand(32, 100, 64)
    target = torch.rand(32, 100, 256)
    opt = torch.optim.Adam(lstm.parameters(), lr=1e-3)

    def lstm_step():
        opt.zero_grad()
        loss = F.mse_loss(lstm(x)[0], target)
        loss.backward()
        opt.step()
        loss.item()

    def lstm_forward():
        with torch.no_grad():
            lstm(x)

    for fn, key in ((lstm_step, "train"), (lstm_forward, "forward")) if want("lstm") else ():
        warm_up(fn, 3)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[f"lstm_{key}_ms"] = statistics.median(times) * 1e3
    out["torch_version"] = torch.__version__
except ImportError as e:
    out["torch_error"] = str(e)
print(json.dumps(out))
