using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// T5's relative position buckets (Raffel et al. 2020, section 2.1): <c>relative_position_buckets(queries, keys,
/// buckets: 32, max_distance: 128, bidirectional: true)</c> is a constant <c>i32[queries, keys]</c> whose entry (i, j)
/// is the bucket of the offset j − i, so that <c>gather(table, buckets)</c> reads a learned bias per bucket and head.
/// As Hugging Face's <c>T5Attention._relative_position_bucket</c>: bidirectional buckets give half of them to keys
/// after the query; distances below half of the (remaining) buckets get a bucket each, longer ones share buckets
/// logarithmically up to <c>max_distance</c>, beyond which all share the last. Unidirectional (a decoder) buckets
/// only look back: keys after the query fall in bucket 0. The buckets of each distance are computed once on the host,
/// in float32 as PyTorch does, and written into the kernel as a table, so the reference and OpenCL agree exactly.
/// </summary>
public sealed class RelativePositions : OpFamily
{
    /// <summary>[queries, keys] i32: the bucket of key j − query i.</summary>
    public static readonly OpDef Buckets = new BucketOp();

    public override void Surface(SurfaceTable table)
    {
        table.Def("relative_position_buckets", Bind, P("queries", ArgKind.Int), P("keys", ArgKind.Int),
            P("buckets", ArgKind.Int, Int(32)), P("max_distance", ArgKind.Int, Int(128)),
            P("bidirectional", ArgKind.Bool, True));
    }

    private static Value Bind(OpCall c)
    {
        long AtLeast(string name, long least, string note)
        {
            var n = c.Int(name);
            if (n < least) c.FailAt(name, Codes.BadValue, note, $"Give '{name}' at least {least}, not {n}");
            return n;
        }
        const string Size = "relative_position_buckets builds a tensor of constant shape";
        var (queries, keys) = (AtLeast("queries", 1, Size), AtLeast("keys", 1, Size));
        var bidirectional = c.Bool("bidirectional");
        var buckets = AtLeast("buckets", bidirectional ? 4 : 2,
            "each direction needs one bucket for exact offsets and one for logarithmically spaced ones");
        var exact = (bidirectional ? buckets / 2 : buckets) / 2;
        var maxDistance = AtLeast("max_distance", exact + 1,
            $"offsets below {exact} have a bucket each; the logarithmic buckets reach from there to max_distance");
        var attrs = new Dictionary<string, object>
        {
            ["buckets"] = buckets, ["max_distance"] = maxDistance, ["bidirectional"] = bidirectional,
        };
        return new TensorValue(c.Binder.AddOp(Buckets, Array.Empty<int>(), new Shape(queries, keys), DType.I32, attrs,
            c.Span, "relative_position_buckets"));
    }

    /// <summary>Bucket by distance n = 0 … longest (keys after the query add the second half when bidirectional).</summary>
    public static int[] ByDistance(long buckets, long maxDistance, bool bidirectional, long longest)
    {
        var half = bidirectional ? buckets / 2 : buckets;
        var exact = half / 2;
        var table = new int[longest + 1];
        for (long n = 0; n <= longest; n++)
        {
            if (n < exact)
            {
                table[n] = (int)n;
                continue;
            }
            // torch: max_exact + (log(n / max_exact) / log(max_distance / max_exact) * (buckets − max_exact)).long(),
            // a float32 tensor over Python floats, truncated toward zero.
            var ratio = (float)Math.Log((float)(n / (float)exact)) / (float)Math.Log(maxDistance / (double)exact);
            var large = exact + (long)(ratio * (half - exact));
            table[n] = (int)Math.Min(large, half - 1);
        }
        return table;
    }

    private sealed class BucketOp : OpDef
    {
        public BucketOp() : base("relative_position_buckets", PrimKind.Custom, 0)
        {
        }

        private static (long Buckets, long MaxDistance, bool Bidirectional) Attrs(Node node) =>
            (node.AttrInt("buckets"), node.AttrInt("max_distance"), node.AttrBool("bidirectional"));

        private static int[] Table(Node node)
        {
            var (buckets, maxDistance, bidirectional) = Attrs(node);
            return ByDistance(buckets, maxDistance, bidirectional, Math.Max(node.Shape[0].Coef, node.Shape[1].Coef));
        }

        public override double[] Reference(RefCall call)
        {
            var node = call.Node;
            var (buckets, _, bidirectional) = Attrs(node);
            var table = Table(node);
            var (queries, keys) = (call.OutShape[0], call.OutShape[1]);
            var y = new double[queries * keys];
            for (long i = 0; i < queries; i++)
                for (long j = 0; j < keys; j++)
                {
                    var offset = j - i;
                    y[i * keys + j] = bidirectional
                        ? (offset > 0 ? buckets / 2 : 0) + table[Math.Abs(offset)]
                        : table[Math.Max(-offset, 0)];
                }
            return y;
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var node = call.Node;
            var (buckets, _, bidirectional) = Attrs(node);
            var table = Table(node);
            var sb = new StringBuilder();
            sb.Append("__kernel void ").Append(call.Name).AppendLine("(__global int* restrict out)\n{");
            sb.AppendLine("    const int i = get_global_id(0);");
            Slicing.Coordinates(sb, node.Shape, new List<int> { 0, 1 });
            sb.Append("    const int bucket[").Append(table.Length.ToString(CultureInfo.InvariantCulture)).Append("] = { ")
                .Append(string.Join(", ", table.Select(b => b.ToString(CultureInfo.InvariantCulture)))).AppendLine(" };");
            sb.AppendLine("    const int offset = c1 - c0;");
            sb.AppendLine(bidirectional
                ? $"    out[i] = (offset > 0 ? {buckets / 2} : 0) + bucket[abs(offset)];"
                : "    out[i] = bucket[max(-offset, 0)];");
            sb.AppendLine("}");
            return new NodeLaunch(call.Name, ArgSpec.Nodes(node), new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node)
        {
            var (buckets, maxDistance, bidirectional) = Attrs(node);
            return $" {buckets} buckets to {maxDistance}" + (bidirectional ? "" : " unidirectional");
        }
    }
}
