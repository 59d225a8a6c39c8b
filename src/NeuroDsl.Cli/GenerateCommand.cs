using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Generation;
using NeuroDsl.Runtime.Text;

namespace NeuroDsl.Cli;

/// <summary>
/// <c>neurodsl generate FILE --checkpoint C --prompt TEXT --length L [--temperature T] [--top-k K] [--seed S]</c>:
/// samples characters from a trained language model, one forward pass per character (<see cref="TokenGenerator"/>).
/// </summary>
public static class GenerateCommand
{
    internal static int Run(Args args)
    {
        var name = args.Get("model");
        var checkpoint = args.Get("checkpoint") ?? throw new UsageException("generate needs --checkpoint C.safetensors (written by 'train --data fortunes')");
        var prompt = args.Get("prompt") ?? "\n";
        var length = args.Int("length", 200);
        var temperatureText = args.Get("temperature");
        var temperature = 1.0;
        if (temperatureText is not null && (!double.TryParse(temperatureText, System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out temperature) || temperature < 0 || !double.IsFinite(temperature)))
            throw new UsageException($"--temperature takes a number ≥ 0 (0 is greedy), not '{temperatureText}'");
        var topK = args.Get("top-k") is null ? 0 : args.Int("top-k", 1);
        var seed = (ulong)args.Int("seed", 1);
        var window = args.Int("seq-length", 64);
        args.CheckUnknown();
        if (args.Positional.Count != 1) throw new UsageException("expected one FILE");
        var path = args.Positional[0];
        if (!File.Exists(checkpoint)) throw new FileNotFoundException($"no such checkpoint: {checkpoint}");
        var encoded = CharVocabulary.Encode(prompt);
        if (encoded.Length == 0) throw new UsageException("--prompt holds no character of the vocabulary (newline and printable ASCII)");
        var compiled = Program.CompileFile(path);
        if (compiled is null) return ExitCodes.DataError;
        var output = Program.PickModel(compiled, name, path);
        using var device = Device.Open();
        var text = Generate(output, device, checkpoint, encoded, length, temperature, topK, seed, window, out var generator);
        Console.Out.Write(prompt);
        Console.Out.WriteLine(text);
        Console.Error.WriteLine($"generate: {length} characters, {generator}");
        return ExitCodes.Ok;
    }

    /// <summary>Builds a batch-1 instance (T = 1 when the model carries state), loads the weights and samples.</summary>
    public static string Generate(ModelOutput output, Device device, string checkpoint, int[] prompt, int length, double temperature,
        int topK, ulong seed, int window, out string how)
    {
        var type = ModelLoader.Compile(output);
        var carries = output.Ir.Graph.Inputs.Any(i => i.Name.EndsWith("_0", StringComparison.Ordinal)
                                                      && output.Plan.Outputs.Any(o => o.Name == i.Name[..^2] + "_n"));
        var symbols = TextTrainCommand.Symbols(type, 1, carries ? 1 : window);
        using var model = ModelLoader.Create(output, type, device, symbols, seed);
        Checkpoint.Load(checkpoint, model);
        var generator = new TokenGenerator(model);
        if (generator.Vocabulary != CharVocabulary.Size)
            throw new UsageException($"{output.Name}'s logits have {generator.Vocabulary} classes; the character vocabulary has {CharVocabulary.Size}");
        var tokens = generator.Generate(prompt, length, temperature, topK, seed);
        how = (generator.CarriesState ? $"state {string.Join(", ", generator.StateNames)} carried on the device, T = 1"
                  : $"a window of {generator.Window}") + $", {generator.Passes} forward passes, "
              + (temperature <= 0 ? "greedy" : $"temperature {temperature}" + (topK > 0 ? $", top-{topK}" : ""));
        return CharVocabulary.Decode(tokens);
    }
}
