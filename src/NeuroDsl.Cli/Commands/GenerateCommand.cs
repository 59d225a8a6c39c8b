using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.CommandLine;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Generation;
using NeuroDsl.Runtime.Text;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl generate FILE --checkpoint C --prompt TEXT --length L [--temperature T] [--top-k K] [--seed S]</c>:
/// samples characters from a trained language model, one forward pass per character (<see cref="TokenGenerator"/>).
/// </summary>
public static class GenerateCommand
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "the trained weights (written by 'train --data fortunes' or 'text:PATH')", HelpName = "C.safetensors", Required = true,
        };
        var prompt = new Option<string?>("--prompt") { Description = "the text generation continues (default: a newline)", HelpName = "TEXT" };
        var length = CommandLine.PositiveInt("--length", "characters to generate (default 200)", "L");
        var temperature = new Option<double?>("--temperature")
        {
            Description = "sampling temperature, ≥ 0; 0 is greedy (default 1)",
            HelpName = "T",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var t)
                    && t >= 0 && double.IsFinite(t)) return t;
                r.AddError($"--temperature takes a number ≥ 0 (0 is greedy), not '{text}'");
                return null;
            },
        };
        var topK = CommandLine.PositiveInt("--top-k", "sample among the K likeliest characters only", "K");
        var seed = CommandLine.PositiveInt("--seed", "sampling seed (default 1)", "S");
        var window = CommandLine.PositiveInt("--seq-length", "the window a model without carried state sees (default 64)", "T");
        var command = new Command("generate", "Sample text from a trained character model; a model with state inputs X_0 and outputs X_n "
            + "runs one step per character with the state carried on the device.") { file, model, checkpoint, prompt, length, temperature, topK, seed, window }
            .WithExamples("neurodsl generate models/char_lstm.nd --checkpoint checkpoints/char_lstm.safetensors --prompt \"The \" --temperature 0.8");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), r.GetValue(checkpoint)!, r.GetValue(prompt) ?? "\n",
            r.GetValue(length) ?? 200, r.GetValue(temperature) ?? 1.0, r.GetValue(topK) ?? 0, (ulong)(r.GetValue(seed) ?? 1), r.GetValue(window) ?? 64));
        return command;
    }

    internal static int Run(string path, string? name, string checkpoint, string prompt, int length, double temperature, int topK, ulong seed, int window)
    {
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
        if (model.Inputs.FirstOrDefault(i => i.Buffer.IsInt && i.Shape.Length == 2) is { } input
            && MaskedLanguageObjective.WeightInput(model, input.Name) is { } weight)
            throw new UsageException($"{output.Name} is a masked language model (its input '{weight}' weighs masked positions): it fills in "
                + "masked characters from both sides and does not generate text left to right");
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
