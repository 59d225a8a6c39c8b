using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using NeuroDsl.Compiler.Planning;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// One argument of a lowered launch, in kernel parameter order: a node's buffer, an integer size, one of the
/// launch's own scratch buffers, or a value the model keeps current. A closed set: the planner binds each kind.
/// </summary>
public abstract record ArgSpec
{
    private ArgSpec()
    {
    }

    /// <summary>The buffer holding node <paramref name="Id"/>'s value.</summary>
    public sealed record NodeBuffer(int Id) : ArgSpec;

    /// <summary>An integer size, fixed when the model is built.</summary>
    public sealed record SizeValue(Dim Value) : ArgSpec;

    /// <summary>The launch's scratch buffer (<see cref="NodeLaunch.Scratch"/> elements: packed panels).</summary>
    public sealed record ScratchBuffer : ArgSpec;

    /// <summary>The launch's zero-padded copy of its input (<see cref="NodeLaunch.Padded"/> elements).</summary>
    public sealed record PaddedBuffer : ArgSpec;

    /// <summary>A value the model keeps current between launches (the training flag, the seed, the step).</summary>
    public sealed record Runtime(RuntimeScalar Value) : ArgSpec;

    /// <summary>
    /// The sequence a loop body's kernel also writes one of its values into, at step t (<see cref="StepWrite"/>
    /// <paramref name="Index"/> of the loop's list): the buffer is the loop's, bound when the loop is scheduled.
    /// </summary>
    public sealed record StepWriteBuffer(int Index) : ArgSpec;

    public static ArgSpec Node(int id) => new NodeBuffer(id);

    public static ArgSpec Size(Dim value) => new SizeValue(value);

    /// <summary>A 0/1 flag passed as a size.</summary>
    public static ArgSpec Flag(bool value) => new SizeValue(value ? 1 : 0);

    /// <summary>The buffers of <paramref name="nodes"/>, in order.</summary>
    public static List<ArgSpec> Nodes(params Node[] nodes) => nodes.Select(n => Node(n.Id)).ToList();

    public static ArgSpec Scratch { get; } = new ScratchBuffer();
    public static ArgSpec Padded { get; } = new PaddedBuffer();
    public static ArgSpec Training { get; } = new Runtime(RuntimeScalar.Training);
    public static ArgSpec Seed { get; } = new Runtime(RuntimeScalar.Seed);
    public static ArgSpec Step { get; } = new Runtime(RuntimeScalar.Step);
}

/// <summary>
/// The text of a lowered kernel before it has a name. Lowering does not know a kernel's stable name, so two nodes
/// that compute the same thing lower to the same text, which is how the planner finds kernels to share; the planner
/// writes the stable name in when it adds the kernel to the plan's table.
/// </summary>
public static class KernelTemplate
{
    /// <summary>Stands for the kernel's name in its text and its steps' names (<c>$kernel_pack</c>); '$' is not OpenCL C.</summary>
    public const string Self = "$kernel";

    /// <summary>The text with the kernel's stable name in place of <see cref="Self"/>.</summary>
    public static string Render(string text, string name) => text.Replace(Self, name);
}

/// <summary>What the kernel emitter decided for one node: which kernel, with which arguments, how wide.</summary>
/// <param name="Kernel">A library kernel's name (no <paramref name="Code"/>), or the name of the generated kernel in
/// <paramref name="Code"/>, both written with <see cref="KernelTemplate.Self"/> for the name the planner gives.</param>
/// <param name="Args">The kernel's arguments, in parameter order.</param>
/// <param name="Scratch">Elements of a scratch buffer the plan allocates for this node (<see cref="ArgSpec.Scratch"/>).</param>
/// <param name="Before">A launch that runs first and fills the scratch buffers (a packing step); it may have a Before of its own.</param>
/// <param name="Tile">When set, the launch has work-groups of one work-item and global size ceil(Global[d] / Tile[d]).</param>
/// <param name="Padded">Elements of a second scratch buffer, a zero-padded copy of the input (<see cref="ArgSpec.Padded"/>).</param>
/// <param name="Rows">A row kernel: Global[0] rows, each a work-group of the device's row lanes (ND_ROW_LANES).</param>
/// <param name="Variant">For a library kernel with a shape per device (the tiled GEMMs), which one it is.</param>
/// <param name="Gpu">When set, the code holds a form for GPU shapes (under <c>#if ND_GPU</c>, or its only form: one output
/// element per work-item, consecutive work-items on consecutive elements) and this is its size: that many work-items, launched instead of
/// <paramref name="Global"/> on a device built with GPU shapes, rounded up to whole work-groups of the device's GPU
/// group (the form returns past its total).</param>
/// <param name="ByConvPixels">When set, the code holds a CPU form per ND_CONV_PIXELS range (<c>#if ND_CONV_PIXELS &gt;= m</c>)
/// and these are their global sizes, largest minimum first; <paramref name="Global"/> is the last form's (<c>#else</c>).</param>
/// <param name="GpuGroup">When set, the GPU form has fixed work-groups along dimension 0 (the attention kernels' blocks
/// of rows): Gpu[0] rows, each work-group over <see cref="GpuGroups.Rows"/> of them.</param>
/// <param name="GpuRows">The GPU form is a row kernel instead: Gpu[0] work-groups of the device's row lanes (ND_ROW_LANES).</param>
public sealed record NodeLaunch(string Kernel, IReadOnlyList<ArgSpec> Args, IReadOnlyList<Dim> Global, string? Code,
    Dim? Scratch = null, NodeLaunch? Before = null, IReadOnlyList<long>? Tile = null, Dim? Padded = null, bool Rows = false,
    KernelVariant Variant = KernelVariant.None, bool Lanes = false, IReadOnlyList<Dim>? Gpu = null, bool GpuRows = false,
    IReadOnlyList<ConvPixelsGlobal>? ByConvPixels = null, GpuGroups? GpuGroup = null)
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
    /// <summary>The launches of one node through the node's op definition, its kernels not yet named.</summary>
    public static NodeLaunch Emit(Graph graph, Node node) =>
        node.Def.Lower(new KernelCall(graph, node, node.Inputs.Select(i => graph[i]).ToArray()));

    internal static readonly string[] Letters = { "a", "b", "c", "d" };

    public static string Lit(double v)
    {
        var f = (float)v;
        if (float.IsNaN(f)) return "NAN";
        if (float.IsInfinity(f)) return f > 0 ? "INFINITY" : "(-INFINITY)";
        var s = f.ToString("R", CultureInfo.InvariantCulture);
        if (!s.Contains('.') && !s.Contains('E')) s += ".0";
        return "(" + s + "f)";
    }

    internal static string CType(Node n) => n.DType == DType.I32 ? "int" : "float";

    /// <summary>Kernel parameters for the non-constant inputs, then the output; and the launch's node arguments.</summary>
    internal static (string Params, List<ArgSpec> Args) Signature(Node node, Node[] inputs, bool output = true)
    {
        var ps = new List<string>();
        var args = new List<ArgSpec>();
        for (var k = 0; k < inputs.Length; k++)
        {
            if (inputs[k].Kind == NodeKind.Const) continue;
            ps.Add($"__global const {CType(inputs[k])}* restrict in{k}");
            args.Add(ArgSpec.Node(inputs[k].Id));
        }
        if (output)
        {
            ps.Add("__global float* restrict out");
            args.Add(ArgSpec.Node(node.Id));
        }
        return (string.Join(", ", ps), args);
    }

    /// <summary>The flat index into an input of shape <paramref name="shape"/> broadcast to the output's coordinates.</summary>
    internal static string BroadcastIndex(Shape shape, Shape outShape)
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
    internal static void Coordinates(StringBuilder sb, Shape shape, string flat, string indent, ISet<int> used, string innerSuffix = "")
    {
        if (shape.Rank == 0 || used.Count == 0) return;
        var last = used.Min();
        string Name(int d) => d == shape.Rank - 1 ? $"c{d}{innerSuffix}" : $"c{d}";
        sb.Append(indent).Append("int r = ").Append(flat).AppendLine(";");
        for (var d = shape.Rank - 1; d > last; d--)
        {
            if (used.Contains(d)) sb.Append(indent).Append($"const int {Name(d)} = r % {shape[d].ToC()};").AppendLine();
            sb.Append(indent).Append($"r /= {shape[d].ToC()};").AppendLine();
        }
        sb.Append(indent).Append(last == 0 ? $"const int {Name(0)} = r;" : $"const int {Name(last)} = r % {shape[last].ToC()};").AppendLine();
    }

    /// <summary>The output axes a broadcast read of <paramref name="shape"/> needs.</summary>
    internal static IEnumerable<int> AxesRead(Shape shape, Shape outShape)
    {
        if (shape.Equals(outShape) || shape.Numel == (Dim)1) yield break;
        var pad = outShape.Rank - shape.Rank;
        for (var d = 0; d < shape.Rank; d++)
            if (shape[d] != (Dim)1) yield return d + pad;
    }

    /// <summary>
    /// The first index of block <c>index % blocks</c> of <paramref name="size"/> along an axis of <paramref name="total"/>:
    /// the last block is shifted back to end at the axis's end (it recomputes a few items rather than run past it).
    /// </summary>
    internal static string BlockStart(string index, long blocks, long size, long total) => total % size == 0
        ? $"({index} % {I(blocks)}) * {I(size)}"
        : $"min(({index} % {I(blocks)}) * {I(size)}, {I(total - size)})";

    /// <summary>The sum of the lanes of a float8 or float16 value.</summary>
    internal static string LaneSum(string v, int width) => width == 16
        ? $"dot({v}.lo.lo + {v}.lo.hi + {v}.hi.lo + {v}.hi.hi, (float4)(1.0f))"
        : $"dot({v}.lo + {v}.hi, (float4)(1.0f))";

    /// <summary>The op's expression for one node, its element's flat index being <paramref name="index"/>.</summary>
    internal static string Template(ElementwiseOp op, Node node, string index = "i") =>
        op.CExpr.Replace("NUMEL", "((float)" + node.Shape.Numel.ToC() + ")").Replace("INDEX", "(" + index + ")");

    internal static NodeLaunch Elementwise(KernelCall call, ElementwiseOp prim)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (ps, args) = Signature(node, inputs);
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        var axes = new HashSet<int>(inputs.Where(x => x.Kind != NodeKind.Const).SelectMany(x => AxesRead(x.Shape, node.Shape)));
        var laned = Laned(node.Shape);
        var indent = ElementStart(sb, node.Shape, axes, laned);
        for (var k = 0; k < inputs.Length; k++)
        {
            var value = inputs[k].Kind == NodeKind.Const ? Lit(inputs[k].ConstValue) : $"in{k}[{BroadcastIndex(inputs[k].Shape, node.Shape)}]";
            sb.Append($"{indent}const float {Letters[k]} = {value};").AppendLine();
        }
        sb.Append(indent).Append("out[i] = ").Append(Template(prim, node)).AppendLine(";");
        ElementEnd(sb, laned);
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString(), Lanes: laned);
    }

    internal static NodeLaunch SumTo(KernelCall call)
    {
        var (name, node, input) = (call.Name, call.Node, call.Inputs[0]);
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
        if (ColumnSums(name, node, inShape, reduced, ps, args) is { } columns) return columns;

        var sb = new StringBuilder();
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
        var offsets = runs.Select((run, r) => run.Stride == (Dim)1 ? $"r{r}" : $"r{r} * {run.Stride.ToC()}").ToList();
        if (!vector)
        {
            // Added in blocks of about 256 terms (a bias's gradient over N rows of a few columns).
            BlockedSumLoops(sb, runs.Select(r => r.Size).ToList(), "    ", new[] { "acc" },
                suffix => new[] { $"acc{suffix} += in0[{string.Join(" + ", offsets.Prepend("base"))}];" });
            sb.AppendLine("    out[i] = acc;\n}");
            return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
        }
        sb.AppendLine("    float16 acc16 = (float16)(0.0f);");
        var indent = "    ";
        for (var r = 0; r < last; r++)
        {
            sb.Append(indent).Append($"for (int r{r} = 0; r{r} < {runs[r].Size.ToC()}; r{r}++)").AppendLine();
            indent += "    ";
        }
        var size = runs[last].Size.Coef;
        var whole = size / 16 * 16;
        var outer = string.Join(" + ", offsets.Take(last).Prepend("base"));
        sb.Append(indent).AppendLine("{");
        sb.Append(indent).AppendLine($"    const __global float* p = in0 + {outer};");
        // Each contiguous run (a whole map) is summed on its own and then added: fewer roundings per lane.
        sb.Append(indent).AppendLine("    float16 run = (float16)(0.0f);");
        sb.Append(indent).AppendLine($"    for (int r{last} = 0; r{last} < {I(whole)}; r{last} += 16)");
        sb.Append(indent).AppendLine($"        run += vload16(0, p + r{last});");
        sb.Append(indent).AppendLine("    acc16 += run;");
        if (whole < size)
        {
            sb.Append(indent).AppendLine($"    for (int r{last} = {I(whole)}; r{last} < {I(size)}; r{last}++)");
            sb.Append(indent).AppendLine($"        acc += p[r{last}];");
        }
        sb.Append(indent).AppendLine("}");
        sb.AppendLine($"    acc += {LaneSum("acc16", 16)};");
        sb.AppendLine("    out[i] = acc;\n}");
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
    }

    /// <summary>
    /// Sums over leading rows into a contiguous block of columns whose count is a multiple of 16 (a bias's gradient
    /// over N·T rows): a work-item per 16 columns reads each row's 16 adjacent values in one load, where a work-item
    /// per column would stride a row apart at every read (on PoCL, 17 ms against 1 ms for 3,200 × 1,024); blocks of
    /// 256 rows are summed, then added.
    /// </summary>
    private static NodeLaunch? ColumnSums(string name, Node node, Shape inShape, List<int> reduced, string ps, List<ArgSpec> args)
    {
        var keptRank = node.Shape.Rank - node.Shape.Dims.TakeWhile(d => d == (Dim)1).Count();
        if (reduced.Count == 0 || node.Shape.Numel is not { IsConstant: true } columns || columns.Coef % 16 != 0
            || reduced.Max() >= inShape.Rank - keptRank) return null;
        // Every axis before the kept block is reduced (or of size 1): the input is [rows, columns].
        var rows = inShape.Dims.Take(inShape.Rank - keptRank).Aggregate((Dim)1, (a, b) => a * b);
        if (!(rows * columns).Equals(inShape.Numel)) return null;
        var c = I(columns.Coef);
        var code = $"__kernel void {name}({ps})\n{{\n"
            + "    const int i = get_global_id(0);\n"
            + $"    const __global float* p = in0 + i * 16;\n"
            + "    float16 acc = (float16)(0.0f);\n"
            + $"    for (int r = 0; r < {rows.ToC()}; r += 256)\n    {{\n"
            + "        float16 part = (float16)(0.0f);\n"
            + $"        const int end = min(r + 256, {rows.ToC()});\n"
            + $"        for (int q = r; q < end; q++)\n            part += vload16(0, p + q * {c});\n"
            + "        acc += part;\n    }\n"
            + "    vstore16(acc, i, out);\n}\n";
        return new NodeLaunch(name, args, new[] { (Dim)(columns.Coef / 16) }, code);
    }

    // A scalar loss: one work-item sums the per-element term, 16 elements per vector step (batch-sized work; a tree
    // reduction across work-groups is issue 4's).
    internal static NodeLaunch LossMean(KernelCall call, LossOp prim)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (ps, args) = Signature(node, inputs);
        var shape = inputs[0].Shape;
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        var numel = shape.Numel.ToC();
        var term = prim.CExpr.Replace("NUMEL", "((float)" + numel + ")");
        // An input's value at element i: a constant, one value broadcast over all, or its own element (16 of them
        // from i on, vector).
        string Value(int k, bool vector)
        {
            if (inputs[k].Kind == NodeKind.Const) return vector ? $"(float16)({Lit(inputs[k].ConstValue)})" : Lit(inputs[k].ConstValue);
            if (inputs[k].Shape.Numel == (Dim)1 && !shape.Equals(inputs[k].Shape)) return vector ? $"(float16)(in{k}[0])" : $"in{k}[0]";
            return vector ? $"vload16(0, in{k} + i)" : $"in{k}[i]";
        }
        // Three levels of sums (blocks of 256 terms, each summed lane-wise in 16 lanes of 16 terms and then across
        // the lanes; added in blocks of 65,536 kept in ND_SUM, double where the device has it; added to the total):
        // a loss over N·C·H·W terms rounds like a few hundred float additions, not N·C·H·W (401,408 for the ResNet
        // stem's output at batch 2). The lanes are independent sums, so the vector unit runs them together rather
        // than one dependent addition per term (0.3 ms for the Transformer layer's 262,144 terms on PoCL).
        sb.Insert(0, BatchNorm.SumType);
        sb.AppendLine("    ND_SUM acc = 0.0f;");
        sb.AppendLine($"    for (int i0 = 0; i0 < {numel}; i0 += 65536)\n    {{");
        sb.AppendLine("        ND_SUM mid = 0.0f;");
        sb.AppendLine($"        const int i1 = min(i0 + 65536, {numel});");
        sb.AppendLine("        for (int i2 = i0; i2 < i1; i2 += 256)\n        {");
        sb.AppendLine("            const int i3 = min(i2 + 256, i1);");
        sb.AppendLine("            float16 lanes = (float16)(0.0f);");
        sb.AppendLine("            int i = i2;");
        sb.AppendLine("            for (; i + 16 <= i3; i += 16)\n            {");
        for (var k = 0; k < inputs.Length; k++)
            sb.Append($"                const float16 {Letters[k]} = {Value(k, true)};").AppendLine();
        sb.Append("                lanes += ").Append(term).AppendLine(";\n            }");
        sb.AppendLine($"            float part = {LaneSum("lanes", 16)};");
        sb.AppendLine("            for (; i < i3; i++)\n            {");
        for (var k = 0; k < inputs.Length; k++)
            sb.Append($"                const float {Letters[k]} = {Value(k, false)};").AppendLine();
        sb.Append("                part += ").Append(term).AppendLine(";\n            }");
        sb.AppendLine("            mid += part;\n        }\n        acc += mid;\n    }");
        sb.Append("    out[0] = (float)(acc / (ND_SUM)").Append(numel).AppendLine(");\n}");
        return new NodeLaunch(name, args, new Dim[] { 1 }, sb.ToString());
    }
}
