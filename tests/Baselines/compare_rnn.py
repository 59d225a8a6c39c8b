"""Checks models/lstm.nd, gru.nd and lstm_bidirectional.nd against torch.nn.LSTM / torch.nn.GRU (batch_first=True) on
the same weights.

    /usr/bin/python3 tests/Baselines/compare_rnn.py lstm|gru|lstm2bi|lstm2bi-packed [N T] [--tolerance 1e-4]
It draws PyTorch's own initial weights (their names are the .nd file's parameter names), random inputs x [N, T, 64]
and targets [N, T, 256] ([N, T, 512] for lstm2bi: two layers, both directions; lstm2bi-packed adds lengths T, T − 2, …
and runs PyTorch on the PackedSequence), calls `neurodsl run --grads` on them, runs the same forward and backward pass in PyTorch,
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
    # kind: (.nd file, model, output width)
    file, model, width = {"lstm": ("lstm", "LSTM", 256), "gru": ("gru", "GRU", 256),
                          "lstm2bi": ("lstm_bidirectional", "LSTMBidirectional", 512),
                          "lstm2bi-packed": ("lstm_bidirectional", "LSTMBidirectionalPacked", 512)}[kind]
    packed = kind == "lstm2bi-packed"
    if kind.startswith("lstm2bi"):
        module = torch.nn.LSTM(64, 256, num_layers=2, bidirectional=True, batch_first=True)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](64, 256, batch_first=True)
    x = torch.randn(n, t, 64)
    target = torch.randn(n, t, width)
    # The first sequence whole, the others shorter and shorter (N=3, T=7: 7, 5, 3); at least one step each.
    lengths = torch.tensor([max(1, t - 2 * i) for i in range(n)], dtype=torch.int32)

    work = tempfile.mkdtemp(prefix="compare-rnn-")
    weights, inputs, out = (os.path.join(work, f) for f in ("w.safetensors", "x.safetensors", "y.safetensors"))
    write_st(weights, {k: v.detach().numpy() for k, v in module.state_dict().items()})
    write_st(inputs, {"x": x.numpy(), "target": target.numpy(), **({"lengths": lengths.numpy()} if packed else {})})
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    cli = os.environ.get("NEURODSL", os.path.join(root, "src/NeuroDsl.Cli/bin/Debug/net10.0/neurodsl"))
    command = cli.split() + ["run", os.path.join(root, "models", file + ".nd"), "--model", model, "--weights", weights,
                             "--inputs", inputs, "--out", out, "--grads"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    ours = read_st(out)

    xg = x.clone().requires_grad_(True)
    if packed:
        pack = torch.nn.utils.rnn.pack_padded_sequence(xg, lengths.long(), batch_first=True, enforce_sorted=False)
        out, state = module(pack)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
    else:
        y, state = module(xg)
    loss = F.mse_loss(y, target)
    loss.backward()
    rows = [("y", y.detach().numpy(), ours["y"]), ("loss", loss.detach().numpy(), ours["loss"]),
            ("grad.x", xg.grad.numpy(), ours["grad.x"])]
    if kind.startswith("lstm2bi"):  # h_n [layers·directions, N, hidden], ours batch first: [N, layers·directions·hidden]
        rows.append(("h_n", state[0].detach().permute(1, 0, 2).reshape(n, -1).numpy(), ours["h_n"]))
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
    print(f"{kind}: N={n} T={t}" + (f" lengths={lengths.tolist()}" if packed else "")
          + f", largest difference {worst:.3e}, tolerance {tolerance:.0e} (and 1e-3 relative): "
          + ("agree" if agree else "DISAGREE"))
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
