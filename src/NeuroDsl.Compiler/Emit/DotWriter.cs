using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Draws a model's forward graph in Graphviz DOT: one box per layer (the summary's rows) with its op, output
/// shape and parameters, edges along the data flow (through views and helper nodes), and layers that share a
/// block or repeat prefix (<c>stage1.0</c>) grouped in clusters.
/// </summary>
public static class DotWriter
{
    public static string Write(ModelIr model)
    {
        var graph = model.Graph;
        var layers = SummaryWriter.Layers(model).ToDictionary(r => r.Name);
        bool Shown(Node n) => n.Kind == NodeKind.Input || (n.Kind == NodeKind.Op && n.Layer is not null) || SummaryWriter.IsDeclaredParam(n);

        // The shown nodes each shown node reads, looking through views and helper nodes.
        var sources = new Dictionary<int, HashSet<int>>();
        HashSet<int> Sources(int id)
        {
            if (sources.TryGetValue(id, out var cached)) return cached;
            var result = new HashSet<int>();
            foreach (var input in graph[id].Inputs)
            {
                var n = graph[input];
                if (n.Kind == NodeKind.Const || (n.Kind == NodeKind.Param && !SummaryWriter.IsDeclaredParam(n))) continue;
                if (Shown(n)) result.Add(input);
                else result.UnionWith(Sources(input));
            }
            return sources[id] = result;
        }

        var shown = graph.Forward.Where(Shown).ToList();
        var sb = new StringBuilder();
        sb.Append("digraph ").Append(Quote(model.Name)).Append(" {\n");
        sb.Append("  graph [rankdir=TB, fontname=\"Helvetica\", label=").Append(Quote(Title(model))).Append(", labelloc=t];\n");
        sb.Append("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f6fb\", fontname=\"Helvetica\", fontsize=10];\n");
        sb.Append("  edge [color=\"#556677\", arrowsize=0.6];\n");

        var clusters = shown.Where(n => n.Kind == NodeKind.Op).GroupBy(n => Prefix(n.Name)).Where(g => g.Key.Length > 0 && g.Count() > 1)
            .ToDictionary(g => g.Key, g => g.ToList());
        var clustered = new HashSet<int>(clusters.Values.SelectMany(g => g.Select(n => n.Id)));
        foreach (var n in shown.Where(n => !clustered.Contains(n.Id))) sb.Append("  ").Append(NodeLine(n, layers)).Append('\n');
        var c = 0;
        foreach (var cluster in clusters)
        {
            var (prefix, members) = (cluster.Key, cluster.Value);
            sb.Append("  subgraph cluster_").Append((c++).ToString(CultureInfo.InvariantCulture)).Append(" {\n");
            sb.Append("    label=").Append(Quote(prefix)).Append("; style=\"rounded,dashed\"; color=\"#8899aa\";\n");
            foreach (var n in members) sb.Append("    ").Append(NodeLine(n, layers)).Append('\n');
            sb.Append("  }\n");
        }
        foreach (var n in shown.Where(n => n.Kind == NodeKind.Op))
            foreach (var s in Sources(n.Id).OrderBy(x => x))
                sb.Append("  n").Append(s.ToString(CultureInfo.InvariantCulture)).Append(" -> n").Append(n.Id.ToString(CultureInfo.InvariantCulture)).Append(";\n");
        foreach (var o in graph.Outputs)
        {
            var target = Shown(graph[o.Value]) ? new[] { o.Value } : Sources(o.Value).ToArray();
            sb.Append("  out_").Append(Id(o.Key)).Append(" [shape=ellipse, fillcolor=\"#e8f4e8\", label=").Append(Quote("output " + o.Key)).Append("];\n");
            foreach (var t in target) sb.Append("  n").Append(t.ToString(CultureInfo.InvariantCulture)).Append(" -> out_").Append(Id(o.Key)).Append(";\n");
        }
        sb.Append("}\n");
        return sb.ToString();
    }

    private static string NodeLine(Node n, IReadOnlyDictionary<string, LayerRow> layers)
    {
        var lines = new List<string>();
        if (n.Kind == NodeKind.Input)
            return $"n{n.Id} [shape=ellipse, fillcolor=\"#eef0ff\", label={Quote("input " + n.Name + "\n" + n.DType.ToString().ToLowerInvariant() + n.Shape)}];";
        if (n.Kind == NodeKind.Param)
            return $"n{n.Id} [shape=ellipse, fillcolor=\"#fdf1dc\", label={Quote("param " + n.Name + "\n" + n.DType.ToString().ToLowerInvariant() + n.Shape)}];";
        lines.Add(n.Name);
        lines.Add(n.Layer + Detail(n));
        lines.Add(n.Shape.ToString());
        if (layers.TryGetValue(n.Name, out var row) && (row.Params > 0 || row.Frozen > 0))
            lines.Add(row.Params.ToString("N0", CultureInfo.InvariantCulture) + " params" + (row.Frozen > 0 ? $" (+{row.Frozen:N0} frozen)" : ""));
        var category = n.Layer is not null && Builtins.TryGet(n.Layer, out var op) ? op.Category : LayerCategory.Other;
        var fill = category switch
        {
            LayerCategory.Weighted => "#dde8f8",
            LayerCategory.Pooling => "#f8ecd8",
            LayerCategory.Normalization => "#f0e4f4",
            _ => "#f4f6fb",
        };
        return $"n{n.Id} [fillcolor=\"{fill}\", label={Quote(string.Join("\n", lines))}];";
    }

    private static string Detail(Node n) => n.Def.Detail(n);

    /// <summary>A [h, w] attribute as the diagram shows it: "2" when both agree, else "2x3"; "" when absent.</summary>
    internal static string Pair(Node n, string attr) =>
        n.Attrs.TryGetValue(attr, out var v) && v is long[] a
            ? (a[0] == a[1] ? a[0].ToString(CultureInfo.InvariantCulture) : $"{a[0]}x{a[1]}")
            : "";

    private static string Title(ModelIr model) =>
        model.Name + (model.Paper.Title is null ? "" : " — " + model.Paper.Title + (model.Paper.Year is null ? "" : $" ({model.Paper.Year})"))
        + $"\n{model.Graph.TrainableParameterCount:N0} parameters, {model.Graph.MacsPerExample:N0} multiply-adds per example";

    /// <summary>The block or repeat path a layer belongs to: everything before its last name segment.</summary>
    private static string Prefix(string name)
    {
        var parts = name.Split('.');
        var keep = parts.Length;
        while (keep > 0 && int.TryParse(parts[keep - 1], out _)) keep--; // "f6.1" belongs to layer f6
        return keep <= 1 ? "" : string.Join(".", parts.Take(keep - 1));
    }

    private static string Id(string s) => new(s.Select(ch => char.IsLetterOrDigit(ch) ? ch : '_').ToArray());

    /// <summary>A DOT string literal: quotes and backslashes escaped, newlines as \n.</summary>
    private static string Quote(string s) =>
        "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\r", "").Replace("\n", "\\n") + "\"";
}
