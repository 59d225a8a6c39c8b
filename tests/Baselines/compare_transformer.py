"""PyTorch's side of the Transformer layer check (models/transformer_layer.nd against torch.nn.TransformerEncoderLayer).

    /usr/bin/python3 tests/Baselines/compare_transformer.py DIR N T [--causal]
builds torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0, batch_first=True) from a fixed seed, with random
(nonzero) biases and layer-norm affines so that every parameter matters, and writes to DIR:
  weights.safetensors   its state_dict, whose names models/transformer_layer.nd uses unchanged;
  inputs.safetensors    x and target, f32[N, T, 256];
  expected.safetensors  y, loss (mse(y, target)), grad.<parameter> for every parameter and grad.x,
                        computed in float64 from the same float32 values.
The test (tests/NeuroDsl.Cli.Tests/TransformerLayerTests.cs) runs `neurodsl run --grads` on the first two files
and compares with the third. Needs only torch and numpy.
"""
import os, sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from compare_run import read_st, write_st  # noqa: E402,F401


def main():
    out_dir, n, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    causal = "--causal" in sys.argv[4:]
    torch.manual_seed(12)
    layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    with torch.no_grad():
        # PyTorch starts biases and layer-norm affines at 0 and 1: perturb them so a swapped name shows.
        for name, p in layer.named_parameters():
            if name.endswith("bias") or name.startswith("norm"):
                p.add_(torch.randn_like(p) * 0.1)
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in layer.state_dict().items()}
    x = torch.randn(n, t, 256)
    target = torch.randn(n, t, 256)
    write_st(os.path.join(out_dir, "weights.safetensors"), weights)
    write_st(os.path.join(out_dir, "inputs.safetensors"), {"x": x.numpy(), "target": target.numpy()})

    layer = layer.double().train()
    xd = x.double().requires_grad_(True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(t).double() if causal else None
    y = layer(xd, src_mask=mask)
    loss = torch.nn.functional.mse_loss(y, target.double())
    loss.backward()
    expected = {"y": y, "loss": loss, "grad.x": xd.grad}
    expected.update({"grad." + name: p.grad for name, p in layer.named_parameters()})
    write_st(os.path.join(out_dir, "expected.safetensors"),
             {k: v.detach().numpy().astype(np.float32) for k, v in expected.items()})
    print(f"wrote {len(expected)} expected tensors, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
