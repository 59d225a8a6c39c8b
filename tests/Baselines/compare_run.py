"""Checks `neurodsl run` against PyTorch on the same weights and inputs (LeNet-5).

    /usr/bin/python3 tests/Baselines/compare_run.py CHECKPOINT.safetensors
It writes inputs.safetensors, calls `neurodsl run --grads`, runs the same forward and backward pass in PyTorch
(tests/Baselines/lenet5_fashion_mnist.py's model, whose parameter names match models/lenet5.nd), and prints the
largest differences. Needs only numpy and torch (safetensors files are read and written here directly).
"""
import json, os, struct, subprocess, sys
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from lenet5_fashion_mnist import LeNet5, load  # noqa: E402


def read_st(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dtype = {"F32": np.float32, "I32": np.int32}[info["dtype"]]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dtype).reshape(info["shape"])
    return out


def write_st(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": {"float32": "F32", "int32": "I32"}[str(arr.dtype)], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ckpt = sys.argv[1]
    xte, yte = load("t10k")
    x, y = xte[:16].numpy(), yte[:16].numpy().astype(np.int32)
    write_st("/tmp/compare-inputs.safetensors", {"image": x, "label": y})
    cli = [os.environ.get("NEURODSL", "src/NeuroDsl.Cli/bin/Debug/net10.0/neurodsl"), "run", "models/lenet5.nd",
           "--weights", ckpt, "--inputs", "/tmp/compare-inputs.safetensors", "--out", "/tmp/compare-out.safetensors", "--grads"]
    subprocess.run(cli, check=True)
    ours = read_st("/tmp/compare-out.safetensors")

    weights = {k: torch.from_numpy(v.copy()) for k, v in read_st(ckpt).items() if not k.startswith("optimizer.")}
    model = LeNet5()
    model.load_state_dict(weights)
    image = torch.from_numpy(x.copy()).requires_grad_(True)
    logits = model(image)
    loss = F.cross_entropy(logits, torch.from_numpy(y).long())
    loss.backward()
    rows = [("logits", logits.detach().numpy(), ours["logits"]), ("loss", loss.detach().numpy(), ours["loss"]),
            ("grad.image", image.grad.numpy(), ours["grad.image"])]
    rows += [("grad." + n, p.grad.numpy(), ours["grad." + n]) for n, p in model.named_parameters()]
    for name, theirs, mine in rows:
        scale = max(1e-12, float(np.abs(theirs).max()))
        print(f"{name:18s} max |NeuroDsl - PyTorch| = {float(np.abs(theirs - mine).max()):.3e}  (max |PyTorch| {scale:.3e})")
    agree = (logits.argmax(1).numpy() == ours["logits"].argmax(1)).mean()
    print(f"predictions agree on {agree * 100:.0f}% of {len(y)} test images")


if __name__ == "__main__":
    main()
