"""Long sums at full size: NeuroDsl's and PyTorch's float32 gradients, each against float64 (issue 13, item 4).

    /usr/bin/python3 tests/Baselines/accuracy_long_sums.py [--batch 2] [--rows 8192]
Runs the models of tests/NeuroDsl.Runtime.Tests/Accuracy/long_sums.nd through `neurodsl run --grads --train-mode` on
seeded random weights and inputs (torchvision's weights are not at hand; the error statistics are what matter), the
same pass in PyTorch float32 and float64 on the same data, and prints for every gradient the largest error against
float64, absolute and as a fraction of the gradient's largest value:
- ResNetStem: ResNet-18's stem (conv 7×7 stride 2 pad 3, 3→64, batch norm, relu, maxpool) on 224² images; each weight's
  gradient adds up batch · 112 · 112 terms (25,088 at batch 2), batch norm's sums as many;
- LongSumDense: a dense layer over `rows` rows, whose weight gradient is a product with K = rows and whose bias gradient
  adds up `rows` terms.
Two kinds of data: "mixed" (normalised images, targets around the outputs: gradients of both signs) and "one-sign"
(images in [0, 1), targets below every output: the terms mostly share a sign, where a running float sum loses most).
Needs only numpy and torch; set NEURODSL to the CLI (default: the Debug build).
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from compare_run import read_st, write_st  # noqa: E402

ND_FILE = os.path.join(os.path.dirname(__file__), "..", "NeuroDsl.Runtime.Tests", "Accuracy", "long_sums.nd")


def ours(model, weights, inputs):
    d = tempfile.mkdtemp(prefix="accuracy-")
    w, x, y = (os.path.join(d, f) for f in ("w.safetensors", "x.safetensors", "y.safetensors"))
    write_st(w, weights)
    write_st(x, inputs)
    cli = os.environ.get("NEURODSL", "src/NeuroDsl.Cli/bin/Debug/net10.0/neurodsl")
    subprocess.run([cli, "run", ND_FILE, "--model", model, "--weights", w, "--inputs", x, "--out", y, "--grads",
                    "--train-mode"], check=True, stdout=subprocess.DEVNULL)
    return read_st(y)


def stem(weights, inputs, dtype):
    t = {k: torch.tensor(v, dtype=dtype, requires_grad=k in ("y.0.weight", "y.2.weight", "y.2.bias"))
         for k, v in {**weights, **inputs}.items()}
    h = F.conv2d(t["image"], t["y.0.weight"], stride=2, padding=3)
    h = F.batch_norm(h, t["y.2.running_mean"].detach().clone(), t["y.2.running_var"].detach().clone(),
                     t["y.2.weight"], t["y.2.bias"], training=True, momentum=0.1, eps=1e-5)
    out = F.max_pool2d(F.relu(h), 3, stride=2, padding=1)
    loss = F.mse_loss(out, t["target"])
    loss.backward()
    return {"loss": loss.detach().numpy(), "grad.y.0.weight": t["y.0.weight"].grad.numpy(),
            "grad.y.2.weight": t["y.2.weight"].grad.numpy(), "grad.y.2.bias": t["y.2.bias"].grad.numpy()}


def dense(weights, inputs, dtype):
    t = {k: torch.tensor(v, dtype=dtype, requires_grad=k.startswith("y.")) for k, v in {**weights, **inputs}.items()}
    loss = F.mse_loss(F.linear(t["x"], t["y.weight"], t["y.bias"]), t["target"])
    loss.backward()
    return {"loss": loss.detach().numpy(), "grad.y.weight": t["y.weight"].grad.numpy(),
            "grad.y.bias": t["y.bias"].grad.numpy()}


def report(title, run, model, weights, inputs):
    exact = run(weights, inputs, torch.float64)
    torch32 = run(weights, inputs, torch.float32)
    mine = ours(model, weights, inputs)
    print(title)
    for name, e in exact.items():
        scale = max(1e-30, float(np.abs(e).max()))
        row = f"  {name:16s} max |g| {scale:9.3e}"
        for who, got in (("NeuroDsl", mine[name]), ("PyTorch f32", torch32[name])):
            err = float(np.abs(got.astype(np.float64).reshape(e.shape) - e).max())
            row += f"   {who}: {err:9.3e} ({err / scale:8.2e})"
        print(row)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rows", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(13)
    f32 = np.float32
    stem_w = {"y.0.weight": (rng.standard_normal((64, 3, 7, 7)) * np.sqrt(2 / 147)).astype(f32),
              "y.2.weight": rng.uniform(0.5, 1.5, 64).astype(f32), "y.2.bias": (0.1 * rng.standard_normal(64)).astype(f32),
              "y.2.running_mean": np.zeros(64, f32), "y.2.running_var": np.ones(64, f32)}
    n = args.batch
    pixels = rng.uniform(0, 1, (n, 3, 224, 224))
    mean, std = np.array([0.485, 0.456, 0.406])[:, None, None], np.array([0.229, 0.224, 0.225])[:, None, None]
    print(f"weights' largest error as measured against float64 (absolute, and over the gradient's largest value)")
    report(f"ResNetStem, batch {n}, mixed signs", stem, "ResNetStem", stem_w,
           {"image": ((pixels - mean) / std).astype(f32), "target": (0.5 * rng.standard_normal((n, 64, 56, 56))).astype(f32)})
    report(f"ResNetStem, batch {n}, one sign", stem, "ResNetStem", stem_w,
           {"image": pixels.astype(f32), "target": (-1 + 0.3 * rng.standard_normal((n, 64, 56, 56))).astype(f32)})
    rows = args.rows
    dense_w = {"y.weight": (rng.standard_normal((48, 64)) / 8).astype(f32), "y.bias": np.zeros(48, f32)}
    report(f"LongSumDense, {rows} rows, mixed signs", dense, "LongSumDense", dense_w,
           {"x": rng.standard_normal((rows, 64)).astype(f32), "target": rng.standard_normal((rows, 48)).astype(f32)})
    report(f"LongSumDense, {rows} rows, one sign", dense, "LongSumDense", dense_w,
           {"x": rng.uniform(0, 1, (rows, 64)).astype(f32), "target": (-1 + 0.3 * rng.standard_normal((rows, 48))).astype(f32)})


if __name__ == "__main__":
    main()
