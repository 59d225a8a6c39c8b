using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Cli.Cards;

/// <summary>The code generated for one line of a model: its launches in <c>Forward()</c> and the kernels they run.</summary>
public static partial class LayerCode
{
    public sealed record Excerpt(int Line, string Source, string Launches, string Kernels);

    /// <summary>
    /// The first forward line that holds parameters (the first convolution or dense layer), or the first line with a
    /// launch; null when the model launches nothing.
    /// </summary>
    public static Excerpt? Of(ModelOutput model)
    {
        var lines = model.Plan.Forward.Select(l => l.Line).Where(l => l > 0).Distinct().ToList();
        if (lines.Count == 0) return null;
        var graph = model.Ir.Graph;
        var withParams = graph.Forward.Where(n => n.Kind == NodeKind.Op && n.Inputs.Any(i => graph[i].Kind == NodeKind.Param))
            .Select(n => n.Span.Line).Where(lines.Contains).ToList();
        var line = withParams.Count > 0 ? withParams[0] : lines[0];

        var csharp = model.CSharp.Replace("\r\n", "\n").Split('\n');
        var forward = Array.FindIndex(csharp, l => l.Contains("public override void Forward()", StringComparison.Ordinal));
        var marker = new Regex(@"^\s*// \S+\.nd:(\d+)\s");
        var launches = new StringBuilder();
        var kernelsUsed = new List<string>();
        var fields = csharp.Select(l => KernelField().Match(l)).Where(m => m.Success)
            .GroupBy(m => m.Groups[1].Value).ToDictionary(g => g.Key, g => g.First().Groups[2].Value);
        var inside = false;
        for (var i = forward + 2; i < csharp.Length && csharp[i] != "    }"; i++)
        {
            var m = marker.Match(csharp[i]);
            if (m.Success) inside = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) == line;
            if (!inside) continue;
            launches.AppendLine(csharp[i].Length >= 8 ? csharp[i][8..] : csharp[i].TrimStart());
            foreach (Match k in KernelUse().Matches(csharp[i]))
                if (fields.TryGetValue(k.Groups[1].Value, out var name)) kernelsUsed.Add(name);
        }
        // A kernel missing from the model's source is a library kernel (GEMM, …), built once per device from kernels/.
        var kernels = string.Join("\n", kernelsUsed.Distinct().Select(k => KernelText(model.KernelSource, k) is { Length: > 0 } text ? text
            : $"// {k}: a library kernel (kernels/*.cl, embedded in the runtime), shared by every model\n"));
        var source = model.Ir.Source[line];
        return new Excerpt(line, source, launches.ToString().TrimEnd(), kernels);
    }

    /// <summary>One kernel's text in the model's OpenCL C, with the comment lines above it.</summary>
    private static string KernelText(string source, string kernel)
    {
        var lines = source.Replace("\r\n", "\n").Split('\n');
        var start = Array.FindIndex(lines, l => l.StartsWith("__kernel", StringComparison.Ordinal) && l.Contains(" " + kernel + "(", StringComparison.Ordinal));
        if (start < 0) return "";
        // A kernel with a GPU and a CPU form (#if ND_GPU … #else … #endif) is shown whole: which one runs is the device's.
        var forms = start > 0 && lines[start - 1].StartsWith("#if ", StringComparison.Ordinal);
        var first = forms ? start - 1 : start;
        while (first > 0 && lines[first - 1].StartsWith("//", StringComparison.Ordinal)) first--;
        var end = start;
        while (end < lines.Length && lines[end] != (forms ? "#endif" : "}")) end++;
        return string.Join("\n", lines[first..Math.Min(lines.Length, end + 1)]) + "\n";
    }

    [GeneratedRegex(@"^\s*(_k\d+) = Kernel\(""([A-Za-z0-9_]+)""")]
    private static partial Regex KernelField();

    [GeneratedRegex(@"\((_k\d+)\b")]
    private static partial Regex KernelUse();
}
