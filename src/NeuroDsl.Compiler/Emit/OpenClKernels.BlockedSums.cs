using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Long sums in blocks: a float sum of M terms added one by one rounds M times into an ever larger total, and its error
/// grows with M (a loss or a bias gradient over N·H·W values, a reduction over a long axis). Summed in blocks of about
/// <see cref="SumBlock"/> terms whose partial sums are then added to the total, it rounds like M / 256 + 256 additions.
/// </summary>
public static partial class OpenClKernels
{
    /// <summary>How many terms a block adds before its partial sum joins the total.</summary>
    internal const long SumBlock = 256;

    /// <summary>
    /// Nested loops <c>r0</c>, <c>r1</c>, … (outermost first) over <paramref name="sizes"/> that add into the floats
    /// named by <paramref name="sums"/> (declared by the caller) through block partials. <paramref name="body"/> gets
    /// the suffix of the names to add into (<c>_part</c> inside a block, empty when the loops are too short to block)
    /// and returns its lines. The block is one iteration (or B iterations) of the outermost loop whose inner loops add
    /// at most <see cref="SumBlock"/> terms: the inner loops keep their constant bounds.
    /// </summary>
    internal static void BlockedSumLoops(StringBuilder sb, IReadOnlyList<Dim> sizes, string indent, string[] sums,
        Func<string, IEnumerable<string>> body)
    {
        // inner[d]: the terms one iteration of loop d adds, when every loop inside it has a constant bound.
        var inner = new long?[sizes.Count];
        long? product = 1;
        for (var d = sizes.Count - 1; d >= 0; d--)
        {
            inner[d] = product;
            product = product is { } p && sizes[d].IsConstant ? p * sizes[d].Coef : null;
        }
        var level = Enumerable.Range(0, sizes.Count).Where(d => inner[d] is <= SumBlock).DefaultIfEmpty(-1).First();
        var total = product;
        if (level < 0 || total is <= SumBlock)
        {
            Loops(0, sizes.Count, "");
            return;
        }
        var block = Math.Max(1, SumBlock / inner[level]!.Value);
        var size = sizes[level].ToC();
        for (var r = 0; r < level; r++)
        {
            sb.Append(indent).AppendLine($"for (int r{r} = 0; r{r} < {sizes[r].ToC()}; r{r}++)");
            indent += "    ";
        }
        sb.Append(indent).AppendLine(block == 1
            ? $"for (int r{level} = 0; r{level} < {size}; r{level}++)"
            : $"for (int r{level}b = 0; r{level}b < {size}; r{level}b += {I(block)})");
        sb.Append(indent).AppendLine("{");
        var outer = indent;
        indent += "    ";
        foreach (var v in sums) sb.Append(indent).AppendLine($"float {v}_part = 0.0f;");
        if (block > 1)
        {
            sb.Append(indent).AppendLine($"for (int r{level} = r{level}b; r{level} < min(r{level}b + {I(block)}, {size}); r{level}++)");
            sb.Append(indent).AppendLine("{");
            var inside = indent;
            indent += "    ";
            Loops(level + 1, sizes.Count, "_part");
            sb.Append(inside).AppendLine("}");
            indent = inside;
        }
        else Loops(level + 1, sizes.Count, "_part");
        foreach (var v in sums) sb.Append(indent).AppendLine($"{v} += {v}_part;");
        sb.Append(outer).AppendLine("}");

        void Loops(int from, int to, string suffix)
        {
            var at = indent;
            if (from == to)
            {
                foreach (var line in body(suffix)) sb.Append(at).AppendLine(line);
                return;
            }
            for (var r = from; r < to; r++)
            {
                if (r > from) at += "    ";
                sb.Append(at).AppendLine($"for (int r{r} = 0; r{r} < {sizes[r].ToC()}; r{r}++)");
            }
            sb.Append(at).AppendLine("{");
            foreach (var line in body(suffix)) sb.Append(at).Append("    ").AppendLine(line);
            sb.Append(at).AppendLine("}");
        }
    }
}
