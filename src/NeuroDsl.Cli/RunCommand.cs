using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;

namespace NeuroDsl.Cli;

/// <summary>
/// <c>neurodsl run FILE --weights W --inputs X --out Y [--grads] [--train-mode]</c>: the forward pass (and with
/// --grads the backward pass from the loss) on given weights and inputs, everything in safetensors — how results
/// are compared with another framework on the same weights.
/// </summary>
internal static class RunCommand
{
    public static int Run(Args args)
    {
        var modelName = args.Get("model");
        var weights = args.Get("weights") ?? throw new UsageException("run needs --weights W.safetensors");
        var inputsPath = args.Get("inputs") ?? throw new UsageException("run needs --inputs X.safetensors");
        var outPath = args.Get("out") ?? throw new UsageException("run needs --out Y.safetensors");
        var grads = args.Has("grads");
        var trainMode = args.Has("train-mode");
        var checkNumerics = args.Has("check-numerics");
        args.CheckUnknown();
        if (args.Positional.Count != 1) throw new UsageException("expected one FILE");
        var path = args.Positional[0];
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);

        var (inputs, _) = SafeTensors.Read(inputsPath);
        var declared = output.Ir.Graph.Inputs.ToList();
        var missing = declared.Where(i => !inputs.ContainsKey(i.Name)).Select(i => i.Name).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{inputsPath} lacks the inputs {string.Join(", ", missing)} of {output.Name}");
        var extra = inputs.Keys.Where(k => declared.All(i => i.Name != k)).ToList();
        if (extra.Count > 0) throw new InvalidDataException($"{inputsPath} has tensors {output.Name} does not take: {string.Join(", ", extra)}");

        // Bind the size symbols from the inputs' shapes (N from the batch axis, and any other symbol where it appears).
        var symbols = new Dictionary<string, long>();
        foreach (var input in declared)
        {
            var t = inputs[input.Name];
            var expectedType = input.DType == Compiler.Ir.DType.I32 ? "I32" : "F32";
            if (t.DType != expectedType) throw new InvalidDataException($"input '{input.Name}' is {t.DType}; {output.Name} declares {expectedType}");
            if (t.Shape.Length != input.Shape.Rank)
                throw new InvalidDataException($"input '{input.Name}' has shape [{string.Join(", ", t.Shape)}]; {output.Name} declares {input.Shape}");
            for (var d = 0; d < t.Shape.Length; d++)
            {
                var dim = input.Shape[d];
                if (dim.IsConstant)
                {
                    if (dim.Coef != t.Shape[d]) throw new InvalidDataException($"input '{input.Name}' has shape [{string.Join(", ", t.Shape)}]; {output.Name} declares {input.Shape}");
                }
                else if (dim.Coef == 1 && !dim.Symbols.Contains('*'))
                {
                    if (symbols.TryGetValue(dim.Symbols, out var v) && v != t.Shape[d])
                        throw new InvalidDataException($"size {dim.Symbols} is {v} in one input and {t.Shape[d]} in '{input.Name}'");
                    symbols[dim.Symbols] = t.Shape[d];
                }
            }
        }

        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        using var model = ModelLoader.Create(output, type, device, symbols, seed: 0, checkNumerics);
        Checkpoint.Load(weights, model, optimizer: null);
        model.Training = trainMode;
        model.ComputeInputGradients = grads;
        foreach (var input in declared)
        {
            if (input.DType == Compiler.Ir.DType.I32) model.SetInput(input.Name, inputs[input.Name].AsInts());
            else model.SetInput(input.Name, inputs[input.Name].AsFloats());
        }
        model.Forward();
        var results = model.Outputs.Select(o => SafeTensor.Of(o.Name, o.Shape, model.Read(o.Name))).ToList();
        if (output.Plan.Loss is not null) results.Add(SafeTensor.Of("loss", Array.Empty<long>(), new[] { model.ReadLoss() }));
        if (grads)
        {
            if (output.Plan.Loss is null) throw new UsageException($"--grads needs a loss; {output.Name} declares none");
            model.Backward();
            results.AddRange(model.Gradients.Where(g => model.Spec.Parameters.First(p => "grad." + p.Name == g.Name).Trainable)
                .Select(g => SafeTensor.Of(g.Name, g.Shape, model.Read(g.Name))));
            results.AddRange(model.InputGradients.Select(g => SafeTensor.Of(g.Name, g.Shape, model.Read(g.Name))));
        }
        SafeTensors.Write(outPath, results, new Dictionary<string, string> { ["model"] = output.Name, ["mode"] = trainMode ? "train" : "eval" });
        Console.Out.WriteLine($"wrote {results.Count} tensors to {outPath}: {string.Join(", ", results.Select(r => r.Name))}");
        return ExitCodes.Ok;
    }
}
