"""Checks models/lstm.nd and models/gru.nd against torch.nn.LSTM / torch.nn.GRU (batch_first=True) on the same weights.

    /usr/bin/python3 tests/Baselines/compare_rnn.py lstm|gru [N T] [--tolerance 1e-4]
It draws PyTorch's own initial weights (their names are the .nd file's parameter names), random inputs x [N, T, 64]
and targets [N, T, 256], calls `neurodsl run --grads` on them, runs the same forward and backward pass in PyTorch,
and prints the largest difference of the output, the loss, every parameter gradient and the input gradient. Exits 1
when one exceeds the tolerance. Needs only numpy and torch; the safetensors helpers are compare_run.py's.
"""
import os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from compare_run import read_st, write_st  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tolerance = float(sys.argv[sys.argv.index("--tolerance") + 1]) if "--tolerance" in sys.argv else 1e-4
    if "--tolerance" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--tolerance") + 1])
    kind = args[0]
    n, t = (int(args[1]), int(args[2])) if len(args) >= 3 else (3, 7)
    torch.manual_seed(0)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](64, 256, batch_first=True)
    x = torch.randn(n, t, 64)
    target = torch.randn(n, t, 256)

    work = tempfile.mkdtemp(prefix="compare-rnn-")
    weights, inputs, out = (os.path.join(work, f) for f in ("w.safetensors", "x.safetensors", "y.safetensors"))
    write_st(weights, {k: v.detach().numpy() for k, v in module.state_dict().items()})
    write_st(inputs, {"x": x.numpy(), "target": target.numpy()})
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    cli = os.environ.get("NEURODSL", os.path.join(root, "src/NeuroDsl.Cli/bin/Debug/net10.0/neurodsl"))
    command = cli.split() + ["run", os.path.join(root, "models", kind + ".nd"), "--model", kind.upper(), "--weights", weights,
                             "--inputs", inputs, "--out", out, "--grads"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    ours = read_st(out)

    xg = x.clone().requires_grad_(True)
    y, _ = module(xg)
    loss = F.mse_loss(y, target)
    loss.backward()
    rows = [("y", y.detach().numpy(), ours["y"]), ("loss", loss.detach().numpy(), ours["loss"]),
            ("grad.x", xg.grad.numpy(), ours["grad.x"])]
    rows += [("grad." + name, p.grad.numpy(), ours["grad." + name]) for name, p in module.named_parameters()]
    # Absolute within the tolerance, and relative to the tensor's largest entry within 1e-3: the gradients of a mean
    # over N·T·256 terms are small, so the absolute bound alone would say little about them.
    worst, agree = 0.0, True
    for name, theirs, mine in rows:
        diff = float(np.abs(theirs - np.asarray(mine).reshape(theirs.shape)).max())
        scale = max(1e-30, float(np.abs(theirs).max()))
        worst = max(worst, diff)
        agree = agree and diff <= tolerance and diff <= 1e-3 * scale
        print(f"{kind} {name:18s} max |NeuroDsl - PyTorch| = {diff:.3e}  (max |PyTorch| {scale:.3e}, "
              f"relative {diff / scale:.1e})")
    print(f"{kind}: N={n} T={t}, largest difference {worst:.3e}, tolerance {tolerance:.0e} (and 1e-3 relative): "
          + ("agree" if agree else "DISAGREE"))
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
