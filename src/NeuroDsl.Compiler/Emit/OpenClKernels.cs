using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>What the kernel emitter decided for one node: which kernel, with which arguments, how wide.</summary>
/// <param name="Args">Node ids (their buffers), <see cref="Dim"/> sizes or "$training"/"$seed"/"$step", in kernel parameter order.</param>
/// <param name="Scratch">Elements of a scratch buffer the plan allocates for this node ("$scratch" in Args).</param>
/// <param name="Before">A launch that runs first and fills the scratch buffers (a packing step); it may have a Before of its own.</param>
/// <param name="Tile">When set, the launch has work-groups of one work-item and global size ceil(Global[d] / Tile[d]).</param>
/// <param name="Padded">Elements of a second scratch buffer, a zero-padded copy of the input ("$padded" in Args).</param>
public sealed record NodeLaunch(string Kernel, IReadOnlyList<object> Args, IReadOnlyList<Dim> Global, string? Code,
    Dim? Scratch = null, NodeLaunch? Before = null, IReadOnlyList<long>? Tile = null, Dim? Padded = null)
{
    /// <summary>The launches in the order they run: every Before first, then this one.</summary>
    public IEnumerable<NodeLaunch> Steps() => Before is null ? new[] { this } : Before.Steps().Append(this);
}

/// <summary>
/// Writes the OpenCL C of one node's kernel from its primitive's template. Sizes that depend on symbols
/// are <c>ND_N</c>-style macros fixed when the program is built, so every index computation is a
/// compile-time constant for the OpenCL compiler. Constants are inlined as literals.
/// </summary>
public static partial class OpenClKernels
{
    public static NodeLaunch Emit(Graph graph, Node node, string comment)
    {
        var prim = Prims.Get(node.Op);
        var name = "nd_" + node.Op + "_n" + node.Id.ToString(CultureInfo.InvariantCulture);
        var inputs = node.Inputs.Select(i => graph[i]).ToArray();
        return prim.Kind switch
        {
            PrimKind.Elementwise => Elementwise(name, node, inputs, prim, comment),
            PrimKind.SumTo => SumTo(name, node, inputs[0], comment),
            PrimKind.LossMean => LossMean(name, node, inputs, prim, comment),
            PrimKind.Gemm => Gemm(node, inputs),
            PrimKind.Row => Row(name, node, inputs, comment),
            PrimKind.Custom => Structured(name, node, inputs, comment),
            _ => throw new InvalidOperationException("no kernel for " + node.Op),
        };
    }

    private static readonly string[] Letters = { "a", "b", "c", "d" };

    public static string Lit(double v)
    {
        var f = (float)v;
        if (float.IsNaN(f)) return "NAN";
        if (float.IsInfinity(f)) return f > 0 ? "INFINITY" : "(-INFINITY)";
        var s = f.ToString("R", CultureInfo.InvariantCulture);
        if (!s.Contains('.') && !s.Contains('E')) s += ".0";
        return "(" + s + "f)";
    }

    private static string CType(Node n) => n.DType == DType.I32 ? "int" : "float";

    /// <summary>Kernel parameters for the non-constant inputs, then the output; and the launch's node arguments.</summary>
    private static (string Params, List<object> Args) Signature(Node node, Node[] inputs, bool output = true)
    {
        var ps = new List<string>();
        var args = new List<object>();
        for (var k = 0; k < inputs.Length; k++)
        {
            if (inputs[k].Kind == NodeKind.Const) continue;
            ps.Add($"__global const {CType(inputs[k])}* restrict in{k}");
            args.Add(inputs[k].Id);
        }
        if (output)
        {
            ps.Add("__global float* restrict out");
            args.Add(node.Id);
        }
        return (string.Join(", ", ps), args);
    }

    /// <summary>The flat index into an input of shape <paramref name="shape"/> broadcast to the output's coordinates.</summary>
    private static string BroadcastIndex(Shape shape, Shape outShape)
    {
        if (shape.Equals(outShape)) return "i";
        if (shape.Numel == (Dim)1) return "0";
        var pad = outShape.Rank - shape.Rank;
        var terms = new List<string>();
        Dim stride = 1;
        for (var d = shape.Rank - 1; d >= 0; d--)
        {
            if (shape[d] != (Dim)1)
                terms.Add(stride == (Dim)1 ? $"c{d + pad}" : $"c{d + pad} * {stride.ToC()}");
            stride = stride * shape[d];
        }
        return terms.Count == 0 ? "0" : string.Join(" + ", terms);
    }

    /// <summary>Declares the coordinates c&lt;axis&gt; of a flat index, for the axes that are used only.</summary>
    private static void Coordinates(StringBuilder sb, Shape shape, string flat, string indent, ISet<int> used)
    {
        if (shape.Rank == 0 || used.Count == 0) return;
        var last = used.Min();
        sb.Append(indent).Append("int r = ").Append(flat).AppendLine(";");
        for (var d = shape.Rank - 1; d > last; d--)
        {
            if (used.Contains(d)) sb.Append(indent).Append($"const int c{d} = r % {shape[d].ToC()};").AppendLine();
            sb.Append(indent).Append($"r /= {shape[d].ToC()};").AppendLine();
        }
        sb.Append(indent).Append(last == 0 ? "const int c0 = r;" : $"const int c{last} = r % {shape[last].ToC()};").AppendLine();
    }

    /// <summary>The output axes a broadcast read of <paramref name="shape"/> needs.</summary>
    private static IEnumerable<int> AxesRead(Shape shape, Shape outShape)
    {
        if (shape.Equals(outShape) || shape.Numel == (Dim)1) yield break;
        var pad = outShape.Rank - shape.Rank;
        for (var d = 0; d < shape.Rank; d++)
            if (shape[d] != (Dim)1) yield return d + pad;
    }

    private static string Header(string comment) => "// " + comment + "\n";

    private static string Template(Prim prim, Node node) =>
        prim.CExpr!.Replace("NUMEL", "((float)" + node.Shape.Numel.ToC() + ")");

    private static NodeLaunch Elementwise(string name, Node node, Node[] inputs, Prim prim, string comment)
    {
        var (ps, args) = Signature(node, inputs);
        var sb = new StringBuilder(Header(comment));
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        sb.AppendLine("    const int i = get_global_id(0);");
        var axes = new HashSet<int>(inputs.Where(x => x.Kind != NodeKind.Const).SelectMany(x => AxesRead(x.Shape, node.Shape)));
        Coordinates(sb, node.Shape, "i", "    ", axes);
        for (var k = 0; k < inputs.Length; k++)
        {
            var value = inputs[k].Kind == NodeKind.Const ? Lit(inputs[k].ConstValue) : $"in{k}[{BroadcastIndex(inputs[k].Shape, node.Shape)}]";
            sb.Append($"    const float {Letters[k]} = {value};").AppendLine();
        }
        sb.Append("    out[i] = ").Append(Template(prim, node)).AppendLine(";");
        sb.AppendLine("}");
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
    }

    private static NodeLaunch SumTo(string name, Node node, Node input, string comment)
    {
        var (ps, args) = Signature(node, new[] { input });
        var inShape = input.Shape;
        var pad = inShape.Rank - node.Shape.Rank;
        var outDims = Enumerable.Repeat((Dim)1, pad).Concat(node.Shape.Dims).ToArray();
        var strides = new Dim[inShape.Rank];
        Dim s = 1;
        for (var d = inShape.Rank - 1; d >= 0; d--)
        {
            strides[d] = s;
            s = s * inShape[d];
        }
        var reduced = Enumerable.Range(0, inShape.Rank).Where(d => outDims[d] == (Dim)1 && inShape[d] != (Dim)1).ToList();

        var sb = new StringBuilder(Header(comment));
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        sb.AppendLine("    const int i = get_global_id(0);");
        var keptAxes = Enumerable.Range(0, inShape.Rank).Where(d => !reduced.Contains(d) && inShape[d] != (Dim)1).ToList();
        Coordinates(sb, new Shape(outDims), "i", "    ", new HashSet<int>(keptAxes));
        var kept = keptAxes.Select(d => strides[d] == (Dim)1 ? $"c{d}" : $"c{d} * {strides[d].ToC()}").ToList();
        sb.Append("    const int base = ").Append(kept.Count == 0 ? "0" : string.Join(" + ", kept)).AppendLine(";");
        // Nested loops over the reduced axes, adjacent ones merged, the innermost contiguous where the last axis
        // is reduced: no index arithmetic per element, and a loop the compiler can vectorize.
        var runs = new List<(Dim Size, Dim Stride)>();
        foreach (var d in reduced)
        {
            if (runs.Count > 0 && reduced.Contains(d - 1) && runs[runs.Count - 1].Stride == strides[d] * inShape[d])
                runs[runs.Count - 1] = (runs[runs.Count - 1].Size * inShape[d], strides[d]);
            else runs.Add((inShape[d], strides[d]));
        }
        // A contiguous innermost run of 16 or more is summed 16 lanes at a time (the bias gradient of a convolution
        // adds up whole maps), the lanes added at the end.
        var last = runs.Count - 1;
        var vector = last >= 0 && runs[last].Stride == (Dim)1 && runs[last].Size.IsConstant && runs[last].Size.Coef >= 16;
        sb.AppendLine("    float acc = 0.0f;");
        if (vector) sb.AppendLine("    float16 acc16 = (float16)(0.0f);");
        var indent = "    ";
        for (var r = 0; r < (vector ? last : runs.Count); r++)
        {
            sb.Append(indent).Append($"for (int r{r} = 0; r{r} < {runs[r].Size.ToC()}; r{r}++)").AppendLine();
            indent += "    ";
        }
        var offsets = runs.Select((run, r) => run.Stride == (Dim)1 ? $"r{r}" : $"r{r} * {run.Stride.ToC()}");
        var at = string.Join(" + ", offsets.Prepend("base"));
        if (vector)
        {
            var size = runs[last].Size.Coef;
            var whole = size / 16 * 16;
            var outer = string.Join(" + ", offsets.Take(last).Prepend("base"));
            sb.Append(indent).AppendLine("{");
            sb.Append(indent).AppendLine($"    const __global float* p = in0 + {outer};");
            sb.Append(indent).AppendLine($"    for (int r{last} = 0; r{last} < {I(whole)}; r{last} += 16)");
            sb.Append(indent).AppendLine($"        acc16 += vload16(0, p + r{last});");
            if (whole < size)
            {
                sb.Append(indent).AppendLine($"    for (int r{last} = {I(whole)}; r{last} < {I(size)}; r{last}++)");
                sb.Append(indent).AppendLine($"        acc += p[r{last}];");
            }
            sb.Append(indent).AppendLine("}");
            sb.AppendLine($"    acc += {LaneSum("acc16", 16)};");
        }
        else sb.Append(indent).Append("acc += in0[").Append(at).AppendLine("];");
        sb.AppendLine("    out[i] = acc;\n}");
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
    }

    // A scalar loss: one work-item sums the per-element term (batch-sized work; a tree reduction is issue 4's).
    private static NodeLaunch LossMean(string name, Node node, Node[] inputs, Prim prim, string comment)
    {
        var (ps, args) = Signature(node, inputs);
        var shape = inputs[0].Shape;
        var sb = new StringBuilder(Header(comment));
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        sb.AppendLine("    float acc = 0.0f;");
        sb.Append("    for (int i = 0; i < ").Append(shape.Numel.ToC()).AppendLine("; i++)\n    {");
        for (var k = 0; k < inputs.Length; k++)
        {
            var value = inputs[k].Kind == NodeKind.Const ? Lit(inputs[k].ConstValue) : $"in{k}[{(inputs[k].Shape.Numel == (Dim)1 && !shape.Equals(inputs[k].Shape) ? "0" : "i")}]";
            sb.Append($"        const float {Letters[k]} = {value};").AppendLine();
        }
        sb.Append("        acc += ").Append(prim.CExpr!.Replace("NUMEL", "((float)" + shape.Numel.ToC() + ")")).AppendLine(";\n    }");
        sb.Append("    out[0] = acc / (float)").Append(shape.Numel.ToC()).AppendLine(";\n}");
        return new NodeLaunch(name, args, new Dim[] { 1 }, sb.ToString());
    }

    /// <summary>The activations the library GEMM applies in its store (the act argument of kernels/gemm.cl).</summary>
    public static readonly IReadOnlyDictionary<string, int> GemmActivations = new Dictionary<string, int>
    {
        ["relu"] = 1, ["tanh"] = 2, ["sigmoid"] = 3, ["scaled_tanh"] = 4,
    };

    private static NodeLaunch Gemm(Node node, Node[] inputs, Node? activation = null)
    {
        // Library kernel nd_gemm_f32(M, N, K, ta, tb, A, B, bias, has_bias, C, act): C[M,N] = act(op(A)·op(B) (+ bias)).
        var output = activation?.Id ?? node.Id;
        var act = (Dim)(activation is null ? 0 : GemmActivations[activation.Op]);
        var a = inputs[0];
        var b = inputs[1];
        Dim m, k, n;
        bool ta, tb;
        if (node.Op == "linear")
        {
            k = a.Shape[a.Shape.Rank - 1];
            m = a.Shape.Numel.DivideBy(k) ?? throw new InvalidOperationException("linear rows");
            n = b.Shape[0];
            ta = false;
            tb = true;
        }
        else
        {
            ta = node.AttrBool("ta");
            tb = node.AttrBool("tb");
            m = ta ? a.Shape[1] : a.Shape[0];
            k = ta ? a.Shape[0] : a.Shape[1];
            n = tb ? b.Shape[0] : b.Shape[1];
        }
        var hasBias = inputs.Length > 2;
        // Small products (XOR, the perceptron) stay on the simple kernel; real layers use the register-tiled
        // GEMM over B packed into 32-column panels by a launch before it.
        static long Estimate(Dim d) => d.PerExample * (d.IsConstant ? 1 : 32); // a symbol counts as a batch of 32
        if (!n.IsConstant || Estimate(m) * Estimate(n) * Estimate(k) < 32768)
        {
            var args = new List<object> { m, n, k, (Dim)(ta ? 1 : 0), (Dim)(tb ? 1 : 0), a.Id, b.Id, hasBias ? inputs[2].Id : output, (Dim)(hasBias ? 1 : 0), output, act };
            return new NodeLaunch("nd_gemm_f32", args, new[] { n, m }, null);
        }
        var panels = (Dim)((n.Coef + 31) / 32 * 32) * k;
        // One work-item per 32-value row of a panel.
        var pack = new NodeLaunch("nd_gemm_pack_b_f32", new List<object> { k, n, (Dim)(tb ? 1 : 0), b.Id, "$scratch" }, new Dim[] { (Dim)((n.Coef + 31) / 32) * k }, null);
        var tiled = new List<object> { m, n, k, (Dim)(ta ? 1 : 0), a.Id, "$scratch", hasBias ? inputs[2].Id : output, (Dim)(hasBias ? 1 : 0), output, act };
        return new NodeLaunch("nd_gemm_tiled_f32", tiled, new[] { m, n }, null, panels, pack, new long[] { 12, 32 });
    }

    private static NodeLaunch Row(string name, Node node, Node[] inputs, string comment)
    {
        var (ps, args) = Signature(node, inputs);
        var width = inputs[0].Shape[inputs[0].Shape.Rank - 1];
        var c = width.ToC();
        var rows = inputs[0].Shape.Numel.DivideBy(width)!.Value;
        var sb = new StringBuilder(Header(comment));
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        string Dl() => inputs[2].Kind == NodeKind.Const ? Lit(inputs[2].ConstValue) : "in2[0]";
        switch (node.Op)
        {
            case "softmax":
                sb.Append($@"    const int row = get_global_id(0);
    const __global float* x = in0 + row * {c};
    __global float* y = out + row * {c};
    float m = x[0];
    for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
    float s = 0.0f;
    for (int j = 0; j < {c}; j++) {{ const float e = exp(x[j] - m); y[j] = e; s += e; }}
    const float inv = 1.0f / s;
    for (int j = 0; j < {c}; j++) y[j] *= inv;
");
                break;
            case "softmax_grad":
                sb.Append($@"    const int row = get_global_id(0);
    const __global float* y = in0 + row * {c};
    const __global float* dy = in1 + row * {c};
    __global float* dx = out + row * {c};
    float dot = 0.0f;
    for (int j = 0; j < {c}; j++) dot += y[j] * dy[j];
    for (int j = 0; j < {c}; j++) dx[j] = y[j] * (dy[j] - dot);
");
                break;
            case "cross_entropy":
            {
                // One work-item: mean over rows of Σ_j p_j·(logsumexp(x) − x_j), p one-hot from a label (an
                // out-of-range label gives NaN) or a given distribution.
                var soft = node.AttrBool("soft");
                var term = soft
                    ? $"float ps = 0.0f, px = 0.0f;\n        for (int j = 0; j < {c}; j++) {{ const float p = in1[row * {c} + j]; ps += p; px += p * x[j]; }}\n        total += ps * (log(s) + m) - px;"
                    : $"const int label = in1[row];\n        total += (label >= 0 && label < {c}) ? log(s) + m - x[label] : NAN;";
                sb.Append($@"    float total = 0.0f;
    for (int row = 0; row < {rows.ToC()}; row++)
    {{
        const __global float* x = in0 + row * {c};
        float m = x[0];
        for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
        float s = 0.0f;
        for (int j = 0; j < {c}; j++) s += exp(x[j] - m);
        {term}
    }}
    out[0] = total / (float){rows.ToC()};
");
                rows = 1;
                break;
            }
            case "cross_entropy_grad":
            {
                // d/dx_j = softmax_j·Σp − p_j, times dL over the rows.
                var soft = node.AttrBool("soft");
                sb.Append($@"    const int row = get_global_id(0);
    const __global float* x = in0 + row * {c};
    __global float* dx = out + row * {c};
{(soft ? $"    const __global float* p = in1 + row * {c};\n    float ps = 0.0f;\n    for (int j = 0; j < {c}; j++) ps += p[j];" : "    const int label = in1[row];")}
    const float scale = {Dl()} / (float){rows.ToC()};
    float m = x[0];
    for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
    float s = 0.0f;
    for (int j = 0; j < {c}; j++) s += exp(x[j] - m);
    const float inv = 1.0f / s;
    for (int j = 0; j < {c}; j++) dx[j] = (exp(x[j] - m) * inv{(soft ? " * ps - p[j]" : " - (j == label ? 1.0f : 0.0f)")}) * scale;
");
                break;
            }
            default:
                throw new InvalidOperationException("no row kernel for " + node.Op);
        }
        sb.AppendLine("}");
        return new NodeLaunch(name, args, new[] { rows }, sb.ToString());
    }
}
