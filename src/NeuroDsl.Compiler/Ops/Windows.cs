using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// The constants of Swin's window attention (Liu et al. 2021, section 3.2), as timm builds them:
/// <c>window_relative_positions(window)</c>, an <c>i32[w², w²]</c> index into a table of (2w − 1)² relative
/// position biases ((Δy + w − 1)·(2w − 1) + Δx + w − 1 for token i against token j of a window, Δ = i − j), and
/// <c>shifted_window_mask(height, width, window, shift)</c>, the additive <c>[windows, 1, w², w²]</c> mask of the
/// shifted windows: after a cyclic shift by <c>shift</c>, tokens of one window that came from different regions of
/// the image must not attend to each other (−100, as timm; 0 within a region).
/// </summary>
public sealed class Windows : OpFamily
{
    /// <summary>[w², w²] i32: the relative position index of token i against token j of a window.</summary>
    public static readonly OpDef RelativePositions = new WindowOp("window_relative_positions", DType.I32);

    /// <summary>[windows, 1, w², w²]: 0 where two tokens of a shifted window share a region, else −100.</summary>
    public static readonly OpDef ShiftMask = new WindowOp("shifted_window_mask", DType.F32);

    public override void Surface(SurfaceTable table)
    {
        table.Def("window_relative_positions", c =>
        {
            var w = AtLeast(c, "window", 1);
            return Make(c, RelativePositions, new Shape(w * w, w * w), DType.I32, new() { ["window"] = w });
        }, P("window", ArgKind.Int));
        table.Def("shifted_window_mask", c =>
        {
            var (h, wd, w) = (AtLeast(c, "height", 1), AtLeast(c, "width", 1), AtLeast(c, "window", 1));
            foreach (var (name, size) in new[] { ("height", h), ("width", wd) })
                if (size % w != 0)
                    c.FailAt(name, Codes.BadValue, $"windows of {w} tile the image",
                        $"Give '{name}' a multiple of the window {w}, not {size}");
            var shift = c.Int("shift");
            if (shift <= 0 || shift >= w)
                c.FailAt("shift", Codes.BadValue, "a shift of 0 needs no mask", $"Give 'shift' from 1 to {w - 1}, not {shift}");
            return Make(c, ShiftMask, new Shape(h / w * (wd / w), 1, w * w, w * w), DType.F32,
                new() { ["height"] = h, ["width"] = wd, ["window"] = w, ["shift"] = shift });
        }, P("height", ArgKind.Int), P("width", ArgKind.Int), P("window", ArgKind.Int), P("shift", ArgKind.Int));
    }

    private static long AtLeast(OpCall c, string name, long least)
    {
        var n = c.Int(name);
        if (n < least) c.FailAt(name, Codes.BadValue, $"{c.Op.Name} builds a tensor of constant shape", $"Give '{name}' at least {least}, not {n}");
        return n;
    }

    private static Value Make(OpCall c, OpDef op, Shape shape, DType dtype, Dictionary<string, object> attrs) =>
        new TensorValue(c.Binder.AddOp(op, Array.Empty<int>(), shape, dtype, attrs, c.Span, op.Name));

    /// <summary>Every element in row-major order, for the reference (the kernels compute the same from coordinates).</summary>
    public static int[] Values(OpDef op, IReadOnlyDictionary<string, long> a)
    {
        var w = a["window"];
        var area = (int)(w * w);
        if (op == RelativePositions)
        {
            var index = new int[area * area];
            for (var i = 0; i < area; i++)
                for (var j = 0; j < area; j++)
                {
                    long dy = i / w - j / w + w - 1, dx = i % w - j % w + w - 1;
                    index[i * area + j] = (int)(dy * (2 * w - 1) + dx);
                }
            return index;
        }
        // timm's img_mask: regions [0, H − w), [H − w, H − s), [H − s, H) per axis, numbered row-major; the shifted
        // image's windows (windows of the image rolled by −s, whose regions those are) compared token by token.
        long height = a["height"], width = a["width"], shift = a["shift"];
        int Region(long p, long size) => p < size - w ? 0 : p < size - shift ? 1 : 2;
        var (rows, cols) = (height / w, width / w);
        var mask = new int[rows * cols * area * area];
        for (long r = 0; r < rows; r++)
            for (long q = 0; q < cols; q++)
            {
                var window = (int)(r * cols + q);
                int RegionOf(int t) => Region(r * w + t / w, height) * 3 + Region(q * w + t % w, width);
                for (var i = 0; i < area; i++)
                    for (var j = 0; j < area; j++)
                        mask[(window * area + i) * area + j] = RegionOf(i) == RegionOf(j) ? 0 : -100;
            }
        return mask;
    }

    private sealed class WindowOp : OpDef
    {
        private readonly DType _dtype;

        public WindowOp(string name, DType dtype) : base(name, PrimKind.Custom, 0)
        {
            _dtype = dtype;
        }

        private static Dictionary<string, long> Attrs(Node node) =>
            new[] { "window", "height", "width", "shift" }.Where(node.Attrs.ContainsKey)
                .ToDictionary(k => k, node.AttrInt);

        public override double[] Reference(RefCall call) =>
            Values(this, Attrs(call.Node)).Select(v => (double)v).ToArray();

        public override NodeLaunch Lower(KernelCall call)
        {
            var node = call.Node;
            var a = Attrs(node);
            var w = a["window"];
            var area = w * w;
            var sb = new StringBuilder();
            var type = _dtype == DType.I32 ? "int" : "float";
            sb.Append("__kernel void ").Append(call.Name).Append("(__global ").Append(type).AppendLine("* restrict out)\n{");
            sb.AppendLine("    const int i = get_global_id(0);");
            sb.AppendLine($"    const int j = i % {area}, t = i / {area}, k = t % {area};");
            if (this == RelativePositions)
                sb.AppendLine($"    out[i] = (k / {w} - j / {w} + {w - 1}) * {2 * w - 1} + (k % {w} - j % {w} + {w - 1});");
            else
            {
                long height = a["height"], width = a["width"], shift = a["shift"];
                var cols = width / w;
                // The region of a position along one axis: [0, size − w), [size − w, size − shift), [size − shift, size).
                string Region(string p, long size) => $"({p} < {size - w} ? 0 : {p} < {size - shift} ? 1 : 2)";
                sb.AppendLine($"    const int window = t / {area}, y0 = window / {cols} * {w}, x0 = window % {cols} * {w};");
                sb.AppendLine($"    const int rk = {Region($"(y0 + k / {w})", height)} * 3 + {Region($"(x0 + k % {w})", width)};");
                sb.AppendLine($"    const int rj = {Region($"(y0 + j / {w})", height)} * 3 + {Region($"(x0 + j % {w})", width)};");
                sb.AppendLine("    out[i] = rk == rj ? 0.0f : -100.0f;");
            }
            sb.AppendLine("}");
            return new NodeLaunch(call.Name, ArgSpec.Nodes(node), new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node) => node.Attrs.ContainsKey("shift")
            ? $" shift {node.AttrInt("shift")}" : "";
    }
}
