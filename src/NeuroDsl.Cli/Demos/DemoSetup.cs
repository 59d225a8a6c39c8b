using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Data;

namespace NeuroDsl.Cli.Demos;

/// <summary>What every demonstration needs: the file's models, Fashion-MNIST as 784-long rows, and model instances.</summary>
internal sealed class DemoSetup : IDisposable
{
    private readonly CompileResult _result;
    private readonly Dictionary<string, Type> _types = new();

    public DemoSetup(string path, DemoOptions options, int defaultLimit, int defaultTestLimit)
    {
        _result = Program.CompileFile(path) ?? throw new InvalidDataException($"{path} has errors");
        var (train, test) = FashionMnist.Load(options.DataDir, 28);
        TrainSet = train.Take(Math.Min(train.Count, options.Limit ?? defaultLimit));
        TestSet = test.Take(Math.Min(test.Count, options.TestLimit ?? defaultTestLimit));
        Device = Device.Open();
    }

    public ImageDataSet TrainSet { get; }
    public ImageDataSet TestSet { get; }
    public Device Device { get; }

    public ModelOutput Model(string name) =>
        _result.Models.FirstOrDefault(m => m.Name == name) ?? throw new InvalidDataException($"the file has no model {name}");

    /// <summary>An instance of the named model for a batch size; the same seed gives the same initial weights.</summary>
    public CompiledModel Create(string name, int batch, ulong seed)
    {
        var output = Model(name);
        if (!_types.TryGetValue(name, out var type)) _types[name] = type = ModelLoader.Compile(output);
        return ModelLoader.Create(output, type, Device, new Dictionary<string, long> { ["N"] = batch }, seed);
    }

    /// <summary>The largest batch up to 1000 that divides <paramref name="count"/> (evaluation runs whole batches).</summary>
    public static int EvalBatch(int count) => Enumerable.Range(1, Math.Min(1000, count)).Reverse().First(b => count % b == 0);

    public void Dispose() => Device.Dispose();
}
