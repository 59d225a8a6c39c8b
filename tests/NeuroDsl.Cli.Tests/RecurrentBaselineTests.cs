using System;
using System.Diagnostics;
using System.IO;
using Xunit;
using Xunit.Abstractions;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// models/lstm.nd, gru.nd and lstm_bidirectional.nd against torch.nn.LSTM (one layer; two layers, both directions) and
/// torch.nn.GRU on PyTorch's own initial weights (and the bidirectional one over a padded batch against PyTorch's
/// PackedSequence), through
/// <c>neurodsl run --grads</c> (tests/Baselines/compare_rnn.py): outputs, loss, every gradient and the input gradient
/// within 1e-4. Skipped where Debian's python3-torch is not installed.
/// </summary>
public sealed class RecurrentBaselineTests
{
    private readonly ITestOutputHelper _output;

    public RecurrentBaselineTests(ITestOutputHelper output) => _output = output;

    private const string Python = "/usr/bin/python3";

    [SkippableTheory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("lstm2bi")]
    [InlineData("lstm2bi-packed")]
    public void Model_AgreesWithPyTorch(string model)
    {
        Skip.IfNot(File.Exists(Python) && Exec(Python, "-c \"import torch, numpy\"", null).Code == 0,
            "python3-torch is not installed");
        var root = Root();
        var cli = "dotnet " + Path.Combine(AppContext.BaseDirectory, "neurodsl.dll");
        var (code, text) = Exec(Python, $"tests/Baselines/compare_rnn.py {model} 3 7", root, ("NEURODSL", cli));
        _output.WriteLine(text);
        Assert.True(code == 0, text);
        Assert.Contains($"{model}: N=3 T=7", text);
        Assert.Contains("agree", text);
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NeuroDsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("no NeuroDsl.sln above " + AppContext.BaseDirectory);
    }

    private static (int Code, string Text) Exec(string file, string args, string? dir, params (string, string)[] env)
    {
        var info = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir ?? Environment.CurrentDirectory,
        };
        foreach (var (k, v) in env) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
