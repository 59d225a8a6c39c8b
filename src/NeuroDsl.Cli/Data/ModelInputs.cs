using System;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Runtime.Data;

namespace NeuroDsl.Cli.Data;

/// <summary>
/// What a model takes per example, read from its IR before anything is built, so that a data set that does not fit
/// is refused with both shapes side by side: a classifier (one f32 image input, [N, C, H, W] or flat [N, D], one i32
/// label [N], class scores [N, K] as its first output) or a dense model (features [N, F] and a target [N, 1]).
/// </summary>
internal sealed record ModelInputs(string Model, string Inputs)
{
    /// <summary>The model's inputs as the messages show them: <c>image f32[3, 32, 32], label i32[]</c> per example.</summary>
    public static string Describe(ModelOutput output) => string.Join(", ", output.Ir.Graph.Inputs.Select(i =>
        $"{i.Name} {(i.DType == DType.I32 ? "i32" : "f32")}[{string.Join(", ", i.Shape.Dims.Skip(1))}]"));

    /// <summary>The image input, label input and class count of a classifier; refuses any other model.</summary>
    public static (Node Image, Node Label, long Classes) Classifier(ModelOutput output, string data, string dataShape)
    {
        var inputs = output.Ir.Graph.Inputs.ToList();
        var images = inputs.Where(i => i.DType == DType.F32).ToList();
        var labels = inputs.Where(i => i.DType == DType.I32).ToList();
        string Refuse(string why) => $"{output.Name} takes {Describe(output)} per example; {data} gives {dataShape}: {why}";
        if (output.Plan.Loss is null) throw new UsageException($"{output.Name} declares no loss, so it cannot be trained");
        if (images.Count != 1 || labels.Count != 1 || labels[0].Shape.Rank != 1)
            throw new UsageException(Refuse("an image set feeds a model of one f32 image input and one i32 label per example"));
        var image = images[0];
        if (image.Shape.Rank is not (2 or 4) || image.Shape.Dims.Skip(1).Any(d => !d.IsConstant))
            throw new UsageException(Refuse("the image input must be [N, C, H, W] or flat [N, D] with constant sizes"));
        var scores = output.Plan.Outputs.FirstOrDefault();
        if (scores is null || scores.Shape.Rank != 2 || !scores.Shape[1].IsConstant)
            throw new UsageException(Refuse("its first output must be class scores [N, K]"));
        return (image, labels[0], scores.Shape[1].Coef);
    }

    /// <summary>
    /// The image shape a classifier's input takes: [N, C, H, W] as it is; flat [N, D] as the data's own shape when it
    /// has D values, else as S×S (D = S²) or 3×S×S (D = 3·S²).
    /// </summary>
    public static ImageShape TargetShape(ModelOutput output, Node image, ImageShape native, string data)
    {
        var dims = image.Shape.Dims.Skip(1).Select(d => d.Coef).ToArray();
        if (dims.Any(d => d > int.MaxValue))
            throw new UsageException($"{output.Name}'s {image.Name} [{string.Join(", ", dims)}] has a side past 2^31");
        if (dims.Length == 3) return new ImageShape((int)dims[0], (int)dims[1], (int)dims[2]);
        var d = dims[0];
        if (d == native.Elements) return native;
        foreach (var channels in new[] { 1, 3 })
        {
            var side = (long)Math.Round(Math.Sqrt(d / (double)channels));
            if (side > 0 && channels * side * side == d) return new ImageShape(channels, (int)side, (int)side);
        }
        throw new UsageException($"{output.Name} takes {image.Name} f32[{d}] per example; {data} gives {native} images "
            + $"({native.Elements} values): a flat input takes the image's {native.Elements} values, S×S or 3×S×S");
    }
}
