using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Padding: an image's height and width by reflection (CycleGAN) or zeros (<c>reflection_pad</c>, <c>zero_pad</c>),
/// and zeros before and after one axis (<c>pad_channels</c>, the parameter-free "option A" shortcut of He et al.).
/// </summary>
public sealed class Padding : OpFamily
{
    /// <summary>(x) → x padded by "pads" [top, bottom, left, right], "mode" reflect or zeros.</summary>
    public static readonly OpDef Pad2d = new Pad2dOp();

    /// <summary>(dy) → dx: the sum over every padded position that copies each input position.</summary>
    public static readonly OpDef Pad2dGrad = new Pad2dGradOp();

    /// <summary>(x) → x with "before" zeros before it and zeros after it along "axis", to the output's length.</summary>
    public static readonly OpDef PadAxis = new PadAxisOp();

    private sealed class Pad2dOp : OpDef
    {
        public Pad2dOp() : base("pad2d", PrimKind.Custom, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(Pad2dGrad, g.In(node, 0).Shape, node.Attrs, node, dy) };

        public override double[] Reference(RefCall call)
        {
            var x = call.Inputs[0];
            var y = new double[call.Numel];
            ForEachPadded(call.Node, call.InputShapes[0], call.OutShape, (o, i) => y[o] = x[i]);
            return y;
        }

        // out[n, c, oy, ox] = x[n, c, src(oy), src(ox)]: the mirror image without repeating the edge, or 0 outside.
        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var x = inputs[0].Shape;
            var (h, w, oh, ow) = (x[2].Coef, x[3].Coef, node.Shape[2].Coef, node.Shape[3].Coef);
            var p = node.AttrInts("pads");
            var fetch = Reflects(node)
                ? $@"    iy = iy < 0 ? -iy : (iy >= {I(h)} ? {I(2 * (h - 1))} - iy : iy);
    ix = ix < 0 ? -ix : (ix >= {I(w)} ? {I(2 * (w - 1))} - ix : ix);
    out[i] = x[(nc * {I(h)} + iy) * {I(w)} + ix];"
                : $@"    out[i] = (iy >= 0 && iy < {I(h)} && ix >= 0 && ix < {I(w)}) ? x[(nc * {I(h)} + iy) * {I(w)} + ix] : 0.0f;";
            var code = $@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    int ix = i % {I(ow)} - {I(p[2])};
    int r = i / {I(ow)};
    int iy = r % {I(oh)} - {I(p[0])};
    const int nc = r / {I(oh)};
{fetch}
}}
";
            return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, code);
        }
    }

    private sealed class Pad2dGradOp : OpDef
    {
        public Pad2dGradOp() : base("pad2d_grad", PrimKind.Custom, 1)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var dy = call.Inputs[0];
            var dx = new double[call.Numel];
            ForEachPadded(call.Node, call.OutShape, call.InputShapes[0], (o, i) => dx[i] += dy[o]);
            return dx;
        }

        // dx[n, c, iy, ix] gathers dy from every padded position that copies (iy, ix): itself and, when reflecting,
        // its mirror images above/below and left/right of the image (up to 3 × 3 positions).
        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var (h, w) = (node.Shape[2].Coef, node.Shape[3].Coef);
            var dy = inputs[0].Shape;
            var (oh, ow) = (dy[2].Coef, dy[3].Coef);
            var p = node.AttrInts("pads");
            var reflect = Reflects(node);
            string Sources(string v, string a, long size, long before, long after) => reflect
                ? $@"    int {a}[3];
    int n{a} = 0;
    {a}[n{a}++] = {v} + {I(before)};
    if ({v} >= 1 && {v} <= {I(before)}) {a}[n{a}++] = {I(before)} - {v};
    if ({v} <= {I(size - 2)} && {v} >= {I(size - 1 - after)}) {a}[n{a}++] = {I(before + 2 * (size - 1))} - {v};
"
                : $"    const int {a}[1] = {{ {v} + {I(before)} }};\n    const int n{a} = 1;\n";
            var code = $@"__kernel void {name}(__global const float* restrict dy, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ix = i % {I(w)};
    int r = i / {I(w)};
    const int iy = r % {I(h)};
    const int nc = r / {I(h)};
{Sources("iy", "ys", h, p[0], p[1])}{Sources("ix", "xs", w, p[2], p[3])}    float acc = 0.0f;
    for (int a = 0; a < nys; a++)
        for (int b = 0; b < nxs; b++) acc += dy[(nc * {I(oh)} + ys[a]) * {I(ow)} + xs[b]];
    out[i] = acc;
}}
";
            return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, code);
        }
    }

    private sealed class PadAxisOp : OpDef
    {
        public PadAxisOp() : base("pad_axis", PrimKind.Custom, 1)
        {
        }

        // The gradient is the slice the input occupies.
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => new Node?[]
        {
            g.Op(Concatenation.Slice, g.In(node, 0).Shape,
                new Dictionary<string, object> { ["axis"] = node.AttrInt("axis"), ["start"] = node.AttrInt("before") }, node, dy),
        };

        public override double[] Reference(RefCall call)
        {
            var (x, xs, ys) = (call.Inputs[0], call.InputShapes[0], call.OutShape);
            var axis = (int)call.Node.AttrInt("axis");
            var before = call.Node.AttrInt("before");
            long inner = 1;
            for (var d = axis + 1; d < xs.Length; d++) inner *= xs[d];
            var y = new double[call.Numel];
            for (long i = 0; i < x.Length; i++)
            {
                var a = i / inner % xs[axis];
                var outer = i / (inner * xs[axis]);
                y[(outer * ys[axis] + a + before) * inner + i % inner] = x[i];
            }
            return y;
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var axis = (int)node.AttrInt("axis");
            var before = node.AttrInt("before");
            var (_, total, inner) = Around(node.Shape, axis);
            var length = inputs[0].Shape[axis].Coef;
            var code = $@"__kernel void {name}(__global const float* restrict in0, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int inner = i % {inner.ToC()};
    const int a = (i / {inner.ToC()}) % {I(total)} - {I(before)};
    const int outer = i / {(inner * total).ToC()};
    out[i] = (a >= 0 && a < {I(length)}) ? in0[(outer * {I(length)} + a) * {inner.ToC()} + inner] : 0.0f;
}}
";
            return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, code);
        }
    }

    private static bool Reflects(Node node) => node.AttrString("mode") == "reflect";

    /// <summary>The input coordinate a padded coordinate copies, or -1 for a zero.</summary>
    private static long PadSource(long o, long before, long size, bool reflect)
    {
        var i = o - before;
        if (i >= 0 && i < size) return i;
        if (!reflect) return -1;
        return i < 0 ? -i : 2 * (size - 1) - i;
    }

    /// <summary>Visits (padded index, input index) for every padded position that copies an input value.</summary>
    private static void ForEachPadded(Node node, long[] xs, long[] ys, Action<long, long> visit)
    {
        var p = node.AttrInts("pads");
        var reflect = Reflects(node);
        for (long nc = 0; nc < xs[0] * xs[1]; nc++)
            for (long oy = 0; oy < ys[2]; oy++)
                for (long ox = 0; ox < ys[3]; ox++)
                {
                    var iy = PadSource(oy, p[0], xs[2], reflect);
                    var ix = PadSource(ox, p[2], xs[3], reflect);
                    if (iy >= 0 && ix >= 0) visit((nc * ys[2] + oy) * ys[3] + ox, (nc * xs[2] + iy) * xs[3] + ix);
                }
    }

    public override void Surface(SurfaceTable table)
    {
        // reflection_pad(x, padding): [all], [vertical, horizontal] or [top, bottom, left, right]; zero_pad alike.
        table.Def("reflection_pad", c => Pad(c, "reflect"), T("x"), P("padding", ArgKind.Ints));
        table.Def("zero_pad", c => Pad(c, "zeros"), T("x"), P("padding", ArgKind.Ints));
        // pad_channels(x, before, after: before)
        table.Def("pad_channels", PadChannels, T("x"), P("before", ArgKind.Int), P("after", ArgKind.Int, None));
    }

    /// <summary>Pads H and W by [all], [vertical, horizontal] or [top, bottom, left, right].</summary>
    private static Value Pad(OpCall c, string mode)
    {
        var op = mode == "reflect" ? "reflection_pad" : "zero_pad";
        var x = c.Tensor("x");
        var (ch, h, w) = Builtins.RequireImage(c, x, op);
        var raw = c.Args["padding"] is ListValue l ? l.Items.Count : 1;
        if (raw != 1 && raw != 2 && raw != 4)
            c.Fail(Codes.BadValue, null, $"Give '{op}' one padding, two (vertical, horizontal) or four (top, bottom, left, right)");
        var given = c.Ints("padding", raw);
        var pads = raw switch
        {
            1 => new[] { given[0], given[0], given[0], given[0] },
            2 => new[] { given[0], given[0], given[1], given[1] },
            _ => given,
        };
        if (pads.Any(v => v < 0)) c.Fail(Codes.BadValue, null, $"Give '{op}' paddings of 0 or more");
        if (mode == "reflect" && (pads[0] >= h || pads[1] >= h || pads[2] >= w || pads[3] >= w))
            c.Fail(Codes.ShapeMismatch, $"reflection_pad of {x.Shape}: each padding must be smaller than its axis ({h}×{w})", op);
        var shape = new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)(h + pads[0] + pads[1]), (Dim)(w + pads[2] + pads[3]) });
        return new TensorValue(c.Binder.AddOp(Pad2d, new[] { x.Id }, shape, DType.F32,
            new Dictionary<string, object> { ["mode"] = mode, ["pads"] = pads }, c.Span, op));
    }

    /// <summary>Zero channels before and after the input's.</summary>
    private static Value PadChannels(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 2 || !x.Shape[1].IsConstant)
            c.Fail(Codes.RankMismatch, $"pad_channels expects [N, C, ...]; got {x.Shape}", "pad_channels", "2 or more");
        var before = c.Int("before");
        var after = c.Has("after") ? c.Int("after") : before;
        if (before < 0 || after < 0) c.Fail(Codes.BadValue, null, "Give pad_channels counts of 0 or more");
        var dims = x.Shape.Dims.ToArray();
        dims[1] = x.Shape[1].Coef + before + after;
        return new TensorValue(c.Binder.AddOp(PadAxis, new[] { x.Id }, new Shape(dims), DType.F32,
            new Dictionary<string, object> { ["axis"] = 1L, ["before"] = before }, c.Span, "pad_channels"));
    }
}
