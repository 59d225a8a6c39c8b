using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Emit;

/// <summary>One row of a model summary: a layer (a user-visible op) with its output shape, parameters and MACs.</summary>
public sealed record LayerRow(string Name, string Op, Shape Shape, long Params, IReadOnlyList<(string Name, Shape Shape)> ParamShapes,
    long Macs, long Connections, long Frozen);

/// <summary>The summary of a model: the layer table (text or JSON), totals and the plan's buffer figures.</summary>
public static class SummaryWriter
{
    public static IReadOnlyList<LayerRow> Layers(ModelIr model)
    {
        var g = model.Graph;
        return g.Forward.Where(n => (n.Kind == NodeKind.Op && n.Layer is not null) || IsDeclaredParam(n))
            .Select(n =>
            {
                if (IsDeclaredParam(n))
                    return new LayerRow(n.Name, "param", n.Shape, n.Param!.Trainable ? n.Param.Count(n.Shape.Numel.PerExample) : 0,
                        new[] { (n.Name, n.Shape) }, 0, 0, n.Param.Trainable ? 0 : n.Shape.Numel.PerExample);
                var ps = g.Params.Where(p => p.Owner == n.Id || (p.Owner is null && n.Inputs.Contains(p.Id))).ToList();
                var trainable = ps.Where(p => p.Param!.Trainable).Sum(p => p.Param!.Count(p.Shape.Numel.PerExample));
                var frozen = ps.Where(p => !p.Param!.Trainable).Sum(p => p.Shape.Numel.PerExample);
                return new LayerRow(n.Name, n.Layer!, n.Shape, trainable, ps.Select(p => (p.Name, p.Shape)).ToList(), n.Macs, n.Connections, frozen);
            }).ToList();
    }

    /// <summary>A parameter declared with <c>param</c>: it owns itself and is a row of its own.</summary>
    internal static bool IsDeclaredParam(Node n) => n.Kind == NodeKind.Param && n.Owner == n.Id;

    public static string Text(ModelIr model, Plan plan)
    {
        var rows = Layers(model);
        var sb = new StringBuilder();
        sb.Append("model ").Append(model.Name);
        if (model.Paper.Title is not null) sb.Append(" — ").Append(model.Paper.Title);
        if (model.Paper.Authors is not null) sb.Append(", ").Append(model.Paper.Authors);
        if (model.Paper.Year is not null) sb.Append(" (").Append(model.Paper.Year.Value.ToString(CultureInfo.InvariantCulture)).Append(')');
        sb.Append('\n');
        foreach (var input in model.Graph.Inputs)
            sb.Append("input ").Append(input.Name).Append(": ").Append(input.DType.ToString().ToLowerInvariant()).Append(input.Shape).Append('\n');
        var table = new List<string[]> { new[] { "layer", "op", "output", "params", "MACs", "connections" } };
        table.AddRange(rows.Select(r => new[] { r.Name, r.Op, r.Shape.ToString(), N(r.Params) + (r.Frozen > 0 ? " (+" + N(r.Frozen) + " frozen)" : ""), N(r.Macs), N(r.Connections) }));
        table.Add(new[] { "total", "", "", N(rows.Sum(r => r.Params)), N(rows.Sum(r => r.Macs)), N(rows.Sum(r => r.Connections)) });
        var widths = Enumerable.Range(0, 6).Select(c => table.Max(r => r[c].Length)).ToArray();
        for (var i = 0; i < table.Count; i++)
        {
            if (i == 1 || i == table.Count - 1) sb.Append(string.Join("  ", widths.Select(w => new string('-', w)))).Append('\n');
            var r = table[i];
            sb.Append(r[0].PadRight(widths[0])).Append("  ").Append(r[1].PadRight(widths[1])).Append("  ")
                .Append(r[2].PadRight(widths[2])).Append("  ").Append(r[3].PadLeft(widths[3])).Append("  ")
                .Append(r[4].PadLeft(widths[4])).Append("  ").Append(r[5].PadLeft(widths[5])).Append('\n');
        }
        var frozenTotal = model.Graph.Params.Where(p => !p.Param!.Trainable).Sum(p => p.Shape.Numel.PerExample);
        sb.Append("trainable parameters: ").Append(N(model.Graph.TrainableParameterCount))
            .Append(frozenTotal > 0 ? " (+" + N(frozenTotal) + " frozen)" : "").Append('\n');
        sb.Append("multiply-adds per example: ").Append(N(model.Graph.MacsPerExample)).Append('\n');
        sb.Append("connections per example: ").Append(N(model.Graph.ConnectionsPerExample)).Append('\n');
        if (model.Compute is { } compute) AppendCompute(sb, model.Graph.TrainableParameterCount, compute.Tokens);
        var sizes = new[] { 1L, 64L, 256L };
        if (model.Symbols.Count > 0)
            sb.Append(model.Symbols.All(s => s == "N") ? "device memory per batch size (planned / one buffer per value): "
                    : "device memory with " + string.Join(" = ", model.Symbols) + " = n (planned / one buffer per value): ").Append(string.Join(", ", sizes.Select(n =>
            {
                try
                {
                    var (planned, naive) = BufferPlanner.Elements(plan, model.Symbols.ToDictionary(s => s, _ => n));
                    return $"{n}: {Bytes(planned * 4)} / {Bytes(naive * 4)}";
                }
                catch (OverflowException)
                {
                    // The per-example counts fit (the binder checked them); this batch size takes the bytes past 2^63.
                    return $"{n}: over 2^63 bytes";
                }
            }))).Append('\n');
        sb.Append("kernel launches per training step: ").Append(N(plan.Forward.Count + plan.Backward.Count(l => !l.InputGradientOnly) + (plan.Params.Count > 0 ? 1 : 0)))
            .Append(" (forward ").Append(N(plan.Forward.Count)).Append(", backward ").Append(N(plan.Backward.Count(l => !l.InputGradientOnly)))
            .Append(", optimizer ").Append(plan.Params.Count > 0 ? "1" : "0").Append(")")
            .Append(plan.Forward.Concat(plan.Backward).Any(l => l.Loop is not null)
                ? "; a loop over time counted once: " + N(plan.Forward.Concat(plan.Backward).Count(l => l.Loop is not null && !l.InputGradientOnly))
                    + " of them run once per step" : "")
            .Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Training compute, written where a model's expect lines ask for it (GPT-3's 3.14e23 FLOPs), or for the token
    /// counts the command line gives.
    /// </summary>
    public static void AppendCompute(StringBuilder sb, long parameters, IEnumerable<double> tokens)
    {
        foreach (var d in tokens)
            sb.Append("training compute for ").Append(E(d)).Append(" tokens: ").Append(E(TrainingCompute.Flops(parameters, d)))
                .Append(" FLOPs (6 · parameters · tokens, Kaplan et al. 2020)\n");
        var optimal = TrainingCompute.OptimalTokens(parameters);
        sb.Append("compute-optimal tokens: ").Append(E(optimal)).Append(" (20 per parameter, Hoffmann et al. 2022), ")
            .Append(E(TrainingCompute.Flops(parameters, optimal))).Append(" FLOPs\n");
    }

    private static string E(double v) => TrainingCompute.Figure(v);

    public static string Json(IEnumerable<(ModelIr Model, Plan Plan)> models)
    {
        var sb = new StringBuilder("[\n");
        var first = true;
        foreach (var (model, plan) in models)
        {
            if (!first) sb.Append(",\n");
            first = false;
            sb.Append("  {\n");
            sb.Append("    \"model\": ").Append(Escaping.CSharpString(model.Name)).Append(",\n");
            sb.Append("    \"paper\": { \"title\": ").Append(Escaping.CSharpString(model.Paper.Title))
                .Append(", \"authors\": ").Append(Escaping.CSharpString(model.Paper.Authors))
                .Append(", \"year\": ").Append(model.Paper.Year?.ToString(CultureInfo.InvariantCulture) ?? "null").Append(" },\n");
            sb.Append("    \"params\": ").Append(model.Graph.TrainableParameterCount.ToString(CultureInfo.InvariantCulture)).Append(",\n");
            sb.Append("    \"flops\": ").Append(model.Graph.MacsPerExample.ToString(CultureInfo.InvariantCulture)).Append(",\n");
            sb.Append("    \"connections\": ").Append(model.Graph.ConnectionsPerExample.ToString(CultureInfo.InvariantCulture)).Append(",\n");
            sb.Append("    \"flops_convention\": \"multiply-adds per example, forward\",\n");
            sb.Append("    \"launches\": { \"forward\": ").Append(plan.Forward.Count.ToString(CultureInfo.InvariantCulture))
                .Append(", \"backward\": ").Append(plan.Backward.Count(l => !l.InputGradientOnly).ToString(CultureInfo.InvariantCulture)).Append(" },\n");
            sb.Append("    \"inputs\": [").Append(string.Join(", ", model.Graph.Inputs.Select(i =>
                "{ \"name\": " + Escaping.CSharpString(i.Name) + ", \"dtype\": \"" + i.DType.ToString().ToLowerInvariant() + "\", \"shape\": " + ShapeJson(i.Shape) + " }"))).Append("],\n");
            sb.Append("    \"layers\": [\n");
            var rows = Layers(model);
            for (var i = 0; i < rows.Count; i++)
            {
                var r = rows[i];
                sb.Append("      { \"name\": ").Append(Escaping.CSharpString(r.Name))
                    .Append(", \"op\": ").Append(Escaping.CSharpString(r.Op))
                    .Append(", \"shape\": ").Append(ShapeJson(r.Shape))
                    .Append(", \"params\": ").Append(r.Params.ToString(CultureInfo.InvariantCulture))
                    .Append(", \"flops\": ").Append(r.Macs.ToString(CultureInfo.InvariantCulture))
                    .Append(", \"connections\": ").Append(r.Connections.ToString(CultureInfo.InvariantCulture))
                    .Append(", \"frozen\": ").Append(r.Frozen.ToString(CultureInfo.InvariantCulture))
                    .Append(", \"parameters\": [")
                    .Append(string.Join(", ", r.ParamShapes.Select(p => "{ \"name\": " + Escaping.CSharpString(p.Name) + ", \"shape\": " + ShapeJson(p.Shape) + " }")))
                    .Append("] }").Append(i + 1 < rows.Count ? ",\n" : "\n");
            }
            sb.Append("    ]\n  }");
        }
        return sb.Append("\n]\n").ToString();
    }

    private static string ShapeJson(Shape s) => "[" + string.Join(", ", s.Dims.Select(d => d.IsConstant ? d.ToString() : "\"" + d + "\"")) + "]";

    private static string Bytes(long b) => b >= 1 << 20
        ? (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB"
        : (b / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KiB";

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
}
