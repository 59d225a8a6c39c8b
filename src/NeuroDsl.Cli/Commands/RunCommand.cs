using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.CommandLine;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl run FILE --weights W --inputs X --out Y [--grads] [--train-mode]</c>: the forward pass (and with
/// --grads the backward pass from the loss) on given weights and inputs, everything in safetensors — how results
/// are compared with another framework on the same weights.
/// </summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var weights = new Option<string>("--weights") { Description = "the parameters (safetensors, as train's checkpoints)", HelpName = "W.safetensors", Required = true };
        var inputs = new Option<string>("--inputs") { Description = "the inputs, named as the model declares them (safetensors)", HelpName = "X.safetensors", Required = true };
        var output = new Option<string>("--out") { Description = "where to write every output, the loss and with --grads the gradients", HelpName = "Y.safetensors", Required = true };
        var grads = new Option<bool>("--grads") { Description = "also run the backward pass: grad.<parameter> and grad.<input>" };
        var trainMode = new Option<bool>("--train-mode") { Description = "batch statistics and dropout as in training (default: evaluation mode)" };
        var checkNumerics = new Option<bool>("--check-numerics") { Description = "name the first layer whose output or gradient is not finite (slow)" };
        var command = new Command("run", "A forward (and backward) pass on given weights and inputs, all in safetensors; size symbols (N) "
            + "come from the inputs' shapes. Exit 65 when the loss or an output is NaN or infinite.")
        {
            file, model, weights, inputs, output, grads, trainMode, checkNumerics,
        }.WithExamples("neurodsl run models/xor_mlp.nd --weights w.safetensors --inputs x.safetensors --out y.safetensors --grads");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), r.GetValue(weights)!, r.GetValue(inputs)!, r.GetValue(output)!,
            r.GetValue(grads), r.GetValue(trainMode), r.GetValue(checkNumerics)));
        return command;
    }

    public static int Run(string path, string? modelName, string weights, string inputsPath, string outPath, bool grads, bool trainMode,
        bool checkNumerics)
    {
        foreach (var p in new[] { weights, inputsPath })
            if (!File.Exists(p)) throw new FileNotFoundException($"no such file: {p}");
        OutputFiles.CheckFile(outPath, "--out");
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        if (grads && output.Plan.Loss is null) throw new UsageException($"--grads needs a loss; {output.Name} declares none");

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
            model.Backward();
            results.AddRange(model.Gradients.Where(g => model.Spec.Parameters.First(p => "grad." + p.Name == g.Name).Trainable)
                .Select(g => SafeTensor.Of(g.Name, g.Shape, model.Read(g.Name))));
            results.AddRange(model.InputGradients.Select(g => SafeTensor.Of(g.Name, g.Shape, model.Read(g.Name))));
        }
        OutputFiles.Guard(outPath, () => SafeTensors.Write(outPath, results,
            new Dictionary<string, string> { ["model"] = output.Name, ["mode"] = trainMode ? "train" : "eval" }));
        Console.Out.WriteLine($"wrote {results.Count} tensors to {outPath}: {string.Join(", ", results.Select(r => r.Name))}");
        // Written for inspection, but a NaN or infinite result is not a success.
        var broken = results.Where(r => r.DType == "F32" && r.AsFloats().Any(v => !float.IsFinite(v))).Select(r => r.Name).ToList();
        if (broken.Count > 0)
            throw new NumericsException($"{output.Name}: {string.Join(", ", broken.Take(5))}{(broken.Count > 5 ? ", …" : "")} "
                + "hold NaN or infinite values; find the first layer that makes one with --check-numerics");
        return ExitCodes.Ok;
    }
}
