using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// The command line's contract: help with examples for every command, typo suggestions, response files,
/// completion, and one exit code (from the table) with a one-line message for every user error.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-errors").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    private static string Model(string name) => CliTests.Model(name);

    /// <summary>A user error: the exit code, one message line (and at most the line pointing at the help), no stack trace.</summary>
    private static string UserError(int code, params string[] args)
    {
        var (actual, _, err) = Run(args);
        Assert.True(code == actual, $"exit {actual}, not {code}: {err}");
        // Notes and the progress of a slow OpenCL build (BuildProgress, on a loaded host) may come before the error.
        var lines = err.Replace("\r", "").Trim().Split('\n')
            .Where(l => !l.StartsWith("note:", StringComparison.Ordinal) && !l.StartsWith("building OpenCL program ", StringComparison.Ordinal))
            .ToList();
        Assert.InRange(lines.Count, 1, 2);
        Assert.StartsWith("neurodsl: ", lines[0]);
        if (lines.Count == 2) Assert.StartsWith("Run '", lines[1]);
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("internal error", err);
        return lines[0];
    }

    [Fact]
    public void EveryCommand_HasItsOwnHelp_WithExamples()
    {
        foreach (var command in new[]
                 {
                     "check", "summary", "ir", "plan", "emit", "graph", "train", "run", "generate", "demo", "card", "devices", "bench", "tune",
                     "bench step", "bench gemm", "bench attention", "bench distributed",
                 })
        {
            var (code, output, _) = Run(command.Split(' ').Append("--help").ToArray());
            Assert.Equal(0, code);
            Assert.Contains($"neurodsl {command}", output);
            Assert.Contains("Examples:", output);
        }
        var root = Run("--help").Out;
        foreach (var (code, _) in ExitCodes.Table) Assert.Contains($"  {code,-4}", root);
        Assert.NotEqual(Run("train", "--help").Out, Run("summary", "--help").Out);
    }

    [Fact]
    public void TheExitCodeTable_IsTheReadmes()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NeuroDsl.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var readme = File.ReadAllText(Path.Combine(dir!.FullName, "README.md"));
        foreach (var (code, meaning) in ExitCodes.Table) Assert.Contains($"| {code} | {meaning} |", readme);
    }

    [Fact]
    public void Typos_AreSuggested_AndUnknownOptionsNeverTakeAValue()
    {
        Assert.Equal("neurodsl: 'neurodsl summary' has no option --jsn; did you mean --json?", UserError(64, "summary", Model("xor_mlp.nd"), "--jsn"));
        Assert.Equal("neurodsl: unknown command 'sumary'; did you mean 'summary'?", UserError(64, "sumary", Model("xor_mlp.nd")));
        Assert.Equal("neurodsl: 'neurodsl plan' has no option --json", UserError(64, "plan", Model("xor_mlp.nd"), "--json"));
        Assert.Contains("did you mean --epochs?", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--epoch", "3"));
        Assert.Contains("--batch takes a positive integer, not '0'", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--batch", "0"));
        Assert.Contains("--data", UserError(64, "train", Model("xor_mlp.nd")));
    }

    [Fact]
    public void ValueListsAndOptionsOfAnotherKind_AreOneLineErrors()
    {
        // AcceptOnlyFromAmong lists its values one per line; the message is one line.
        Assert.Contains("elman-xor, elman-letters", UserError(64, "demo", "nosuch"));
        Assert.Contains("adam, sgd", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--optimizer", "foo"));
        // Options that belong to another kind of data set, demonstration or run.
        Assert.Contains("not on xor", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--distributed"));
        Assert.Contains("are for text", UserError(64, "train", Model("lenet5.nd"), "--data", "fashion-mnist", "--steps", "5"));
        Assert.Contains("does not take --resume", UserError(64, "train", Model("xor_mlp.nd"), "--data", "fortunes", "--resume", "/nonexistent"));
        Assert.Contains("add --distributed", UserError(64, "train", Model("lenet5.nd"), "--data", "fashion-mnist", "--no-overlap"));
        Assert.Contains("--bucket-kb takes at least 1", UserError(64, "train", Model("lenet5.nd"), "--data", "fashion-mnist", "--distributed", "--bucket-kb", "0.5"));
        Assert.Contains("--timeout takes at most", UserError(64, "train", Model("lenet5.nd"), "--data", "fashion-mnist", "--distributed", "--timeout", "1e300"));
        Assert.Contains("--small does not apply to the technique demonstration", UserError(64, "demo", "dropout", "--small"));
        Assert.Contains("--epochs does not apply to the sequence demonstration", UserError(64, "demo", "long-lag", "--epochs", "2"));
        Assert.Contains("--checkpoint", UserError(64, "generate", Model("xor_mlp.nd")));
        // Values that are not numbers: one line each (the default parser's message named .NET types; a validator threw).
        Assert.Contains("--epochs takes a positive integer, not 'abc'", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--epochs", "abc"));
        Assert.Contains("--limit takes a positive integer, not '1e3'", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--limit", "1e3"));
        Assert.Contains("--lr takes a positive number, not 'abc'", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--lr=abc"));
        Assert.Contains("--momentum takes a number, not 'abc'", UserError(64, "train", Model("xor_mlp.nd"), "--data", "xor", "--momentum", "abc"));
        Assert.Contains("--temperature takes a number", UserError(64, "generate", Model("xor_mlp.nd"), "--checkpoint", "c", "--temperature", "abc"));
        Assert.Contains("--seq takes a positive integer", UserError(64, "bench", "attention", "--seq", "abc"));
        Assert.Contains("--cases: no case 'sgem'; the cases are sgemm, mlp, lenet5, transformer, lstm, layer_norm", UserError(64, "bench", "--cases", "sgem"));
        // An output folder that is a file: 73 before any work.
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        Assert.Contains("is a file", UserError(73, "demo", "dropout", "-o", file));
        Assert.Contains("is a file", UserError(73, "card", Path.GetDirectoryName(Model("xor_mlp.nd"))!, "-o", file));
        Assert.Contains("does not exist", UserError(73, "card", Model("xor_mlp.nd"), "-o", Path.Combine(file, "x.html")));
    }

    [Fact]
    public void ResponseFiles_AndCompletions_Work()
    {
        var rsp = Path.Combine(_dir, "args.rsp");
        File.WriteAllText(rsp, $"summary\n{Model("xor_mlp.nd")}\n--json\n");
        var (code, output, _) = Run("@" + rsp);
        Assert.Equal(0, code);
        Assert.StartsWith("[", output.TrimStart());
        var completions = Program.Root().Parse("summary x.nd --js").GetCompletions().Select(c => c.Label).ToList();
        Assert.Contains("--json", completions);
        Assert.Contains("fashion-mnist", Program.Root().Parse("train x.nd --data ").GetCompletions().Select(c => c.Label));
    }

    [Fact]
    public void OutputPaths_AreCheckedBeforeWork_WithExit73()
    {
        Assert.Contains("does not exist", UserError(73, "graph", Model("xor_mlp.nd"), "-o", "/missing/dir/x.svg"));
        Assert.Contains("is a file", UserError(73, "emit", Model("xor_mlp.nd"), "-o", Model("xor_mlp.nd")));
        Assert.Contains(".dot, .gv, .svg, .png, .pdf", UserError(64, "graph", Model("xor_mlp.nd"), "-o", Path.Combine(_dir, "x.txt")));
        var dot = Path.Combine(_dir, "x.dot");
        Assert.Equal(0, Run("graph", Model("xor_mlp.nd"), "-o", dot).Code);
        Assert.StartsWith("digraph", File.ReadAllText(dot));
        Assert.Contains("is a directory", UserError(73, "run", Model("xor_mlp.nd"), "--weights", dot, "--inputs", dot, "--out", _dir));
    }

    [Fact]
    public void Files_ModelsAndSizes_AreOneLineErrors()
    {
        Assert.Contains("no such file", UserError(66, "summary", Path.Combine(_dir, "missing.nd")));
        Assert.Contains("is a directory", UserError(64, "summary", _dir));
        Assert.Contains("has no model 'Nope'; it has GRU, GRUOneBias", UserError(64, "summary", Model("gru.nd"), "--model", "Nope"));
        Assert.Contains("gives T twice", UserError(64, "bench", "step", Model("xor_mlp.nd"), "--size", "T=1", "--size", "T=2"));
        // A two-model file: graph takes the first, with a note naming the others.
        var (code, output, err) = Run("graph", Model("gru.nd"));
        Assert.Equal(0, code);
        Assert.StartsWith("digraph", output);
        Assert.Contains("note: ", err);
        Assert.Contains("GRUOneBias", err);
        // check on a directory checks its .nd files; an empty one is an error.
        (code, output, _) = Run("check", Path.GetDirectoryName(Model("xor_mlp.nd"))!);
        Assert.Equal(0, code);
        Assert.Contains("xor_mlp.nd: ok (XorMlp)", output);
        Assert.Equal(65, Run("check", _dir).Code);
    }

    [Fact]
    public void ModelsThatDoNotFitTheData_AreRefusedBeforeCompiling_WithBothShapes()
    {
        Assert.Equal("neurodsl: Mlp takes image f32[784], label i32[] per example; xor gives x f32[2], target f32[1]: use a dense model "
            + "such as models/xor_mlp.nd or models/perceptron.nd, or an image set (--data fashion-mnist) for a classifier",
            UserError(64, "train", Model("mlp.nd"), "--data", "xor"));
        Assert.Contains("is more than the 640 training examples (--limit 640)",
            UserError(64, "train", Model("lenet5.nd"), "--data", "fashion-mnist", "--batch", "1000", "--limit", "640"));
        Assert.Contains("is more than the 640 training examples",
            UserError(64, "train", Model("vgg16.nd"), "--data", "fashion-mnist", "--batch", "1000", "--limit", "640"));
        Assert.Contains("XorMlp takes x f32[2], target f32[1] per example; fashion-mnist gives 1×28×28 images and a label",
            UserError(64, "train", Model("xor_mlp.nd"), "--data", "fashion-mnist"));
        Assert.Contains("unknown data set 'cifar'", UserError(64, "train", Model("lenet5.nd"), "--data", "cifar"));
        Assert.Contains("needs --labels", UserError(64, "train", Model("lenet5.nd"), "--data", Path.Combine(_dir, "x.npy")));
    }

    [Fact]
    public void AnUnknownDevice_ListsTheDevices_WithExit69()
    {
        Environment.SetEnvironmentVariable("NEURODSL_DEVICE", "99");
        try
        {
            var line = UserError(69, "train", Model("xor_mlp.nd"), "--data", "xor", "--epochs", "1");
            Assert.Contains("there is no device 99; there are", line);
            Assert.Contains("0: ", line);
        }
        finally
        {
            Environment.SetEnvironmentVariable("NEURODSL_DEVICE", null);
        }
    }

    [Fact]
    public void EveryTrainOption_WorksWithTheDenseSets_AndAFinishedRunIsNotRepeated()
    {
        var checkpoint = Path.Combine(_dir, "ck", "xor.safetensors");
        var metrics = Path.Combine(_dir, "m", "xor.json");
        var (code, output, err) = Run("train", Model("xor_mlp.nd"), "--verbose", "--checkpoint", checkpoint, "--data", "xor", "--epochs", "2",
            "--metrics", metrics, "--limit", "4", "--test-limit", "4", "--schedule", "cosine");
        Assert.True(code == 0, err);
        Assert.Contains("after 2 epochs", output);
        Assert.True(File.Exists(checkpoint));
        Assert.Contains("\"epochs\"", File.ReadAllText(metrics));
        (code, output, _) = Run("train", Model("xor_mlp.nd"), "--data", "xor", "--epochs", "2", "--resume", checkpoint);
        Assert.Equal(0, code);
        Assert.Contains("nothing to do", output);
        Assert.Contains("already has 2 epochs", output);
        Assert.DoesNotContain("checkpoint:", output);
        (code, output, _) = Run("train", Model("xor_mlp.nd"), "--data", "xor", "--epochs", "1");
        Assert.Contains("after 1 epoch\n", output.Replace("\r", ""));
    }

    [Fact]
    public void Blobs_PlusMinusOneTargets_AreGivenAsZeroOne_ToASigmoidModel_WithANote()
    {
        var (code, _, err) = Run("train", Model("xor_mlp.nd"), "--data", "blobs", "--epochs", "1");
        Assert.Equal(0, code);
        Assert.Contains("note: blobs' targets are ±1", err);
        (code, _, err) = Run("train", Model("perceptron.nd"), "--data", "blobs", "--epochs", "1");
        Assert.Equal(0, code);
        Assert.DoesNotContain("note:", err);
    }

    [Fact]
    public void Run_WithANonFiniteOutput_IsExit65()
    {
        var file = Path.Combine(_dir, "nan.nd");
        File.WriteAllText(file, "model M {\n  input x: f32[N, 2]\n  output y = x |> log\n}\n");
        var inputs = Path.Combine(_dir, "x.safetensors");
        NeuroDsl.Runtime.Checkpoints.SafeTensors.Write(inputs, new[] { NeuroDsl.Runtime.Checkpoints.SafeTensor.Of("x", new long[] { 1, 2 }, new[] { -1f, 1f }) });
        var weights = Path.Combine(_dir, "w.safetensors");
        NeuroDsl.Runtime.Checkpoints.SafeTensors.Write(weights, Array.Empty<NeuroDsl.Runtime.Checkpoints.SafeTensor>());
        Assert.Contains("hold NaN or infinite values", UserError(65, "run", file, "--weights", weights, "--inputs", inputs, "--out", Path.Combine(_dir, "y.safetensors")));
    }
}
