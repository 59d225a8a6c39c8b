using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;
using static NeuroDsl.Cli.Tests.CliTests;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// models/transformer_layer.nd against torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0, batch_first=True)
/// on the same weights, through <c>neurodsl run --grads</c>: the output, the loss, every parameter's gradient and
/// the input's. PyTorch's side (tests/Baselines/compare_transformer.py) runs in float64 under Debian's
/// <c>/usr/bin/python3</c>; without python3-torch (installed by .ci/bench-setup) the test is skipped.
/// </summary>
public sealed class TransformerLayerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("transformer").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly Lazy<bool> TorchAvailable = new(() => Python("-c", "import torch").Code == 0);

    private static (int Code, string Output) Python(params string[] args)
    {
        if (!File.Exists("/usr/bin/python3")) return (-1, "no /usr/bin/python3");
        var start = new ProcessStartInfo("/usr/bin/python3")
            { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }

    [SkippableTheory]
    [InlineData("TransformerEncoderLayer", 2, 16)]         // T is a size symbol: bound from the inputs by run
    [InlineData("TransformerEncoderLayerCausal", 2, 128)]  // T = 128 is the model's parameter
    public void RunWithGrads_AgreesWithPyTorch_Within1e4(string model, int n, int t)
    {
        Skip.IfNot(TorchAvailable.Value, "needs Debian's python3-torch (bash .ci/bench-setup installs it)");
        var script = Path.Combine(AppContext.BaseDirectory, "Baselines", "compare_transformer.py");
        var args = new[] { script, _dir, n.ToString(), t.ToString() };
        var torch = Python(model.EndsWith("Causal", StringComparison.Ordinal) ? args.Append("--causal").ToArray() : args);
        Assert.True(torch.Code == 0, torch.Output);

        var ours = Path.Combine(_dir, "ours.safetensors");
        var (code, stdout, stderr) = Run("run", Model("transformer_layer.nd"), "--model", model,
            "--weights", Path.Combine(_dir, "weights.safetensors"), "--inputs", Path.Combine(_dir, "inputs.safetensors"),
            "--out", ours, "--grads");
        Assert.True(code == 0, stdout + stderr);

        var (expected, _) = SafeTensors.Read(Path.Combine(_dir, "expected.safetensors"));
        var (actual, _) = SafeTensors.Read(ours);
        // y, loss, grad.x and the 12 parameters' gradients, under the same names on both sides.
        Assert.Equal(15, expected.Count);
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal),
            actual.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, theirs) in expected)
        {
            Assert.Equal(theirs.Shape, actual[name].Shape);
            var (e, a) = (theirs.AsFloats(), actual[name].AsFloats());
            // Relative to the tensor's largest entry: gradients of a mean over N·T·256 elements are small.
            var scale = Math.Max(1e-30, e.Max(v => Math.Abs((double)v)));
            var worst = e.Zip(a, (x, y) => Math.Abs((double)x - y)).Max();
            Assert.True(worst <= 1e-4 * scale,
                $"{model} {name}: max |NeuroDsl − PyTorch| = {worst:g3}, max |PyTorch| = {scale:g3}");
        }
    }
}
