using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Pooling, normalization, dropout, the LeNet-1998 layers, and the argument checks of image layers.</summary>
public static partial class Builtins
{
    internal static void RegisterStructured()
    {
        foreach (var mode in new[] { "avg", "max", "sum" })
            Def(mode + "pool", c => Pool(c, mode), T("x"), P("kernel", ArgKind.Ints), P("stride", ArgKind.Ints, None), P("padding", ArgKind.Ints, ZeroInt));
        Def("global_avgpool", GlobalAvgPool, T("x"));
        Def("reshape", Reshape, T("x"), P("shape", ArgKind.Ints));
        Def("concat", Concat, P("tensors", ArgKind.TensorList), P("axis", ArgKind.Int, One));
        Def("batchnorm", BatchNorm, T("x"), P("momentum", ArgKind.Number, new NumberValue(0.1, false)), P("eps", ArgKind.Number, new NumberValue(1e-5, false)));
        Def("dropout", Dropout, T("x"), P("p", ArgKind.Number, new NumberValue(0.5, false)));
        // LeCun et al. 1998: trainable subsampling (one coefficient and one bias per map) and the RBF output layer.
        Def("subsample", Subsample, T("x"), P("kernel", ArgKind.Ints, new NumberValue(2, true)),
            P("init", ArgKind.Init, new InitValue(new InitSpec("lecun98_uniform"))), P("bias_init", ArgKind.Init, Zeros));
        Def("rbf", Rbf, T("x"), P("units", ArgKind.Int), P("init", ArgKind.Init, new InitValue(new InitSpec("bipolar"))),
            P("trainable", ArgKind.Bool, True));
        foreach (var name in new[] { "lecun98_uniform", "bipolar" })
            Def(name, _ => new InitValue(new InitSpec(name)));
    }

    internal static readonly Value One = new NumberValue(1, true);
    internal static readonly Value ZeroInt = new NumberValue(0, true);

    internal static (long C, long H, long W) RequireImage(OpCall c, Node x, string op)
    {
        if (x.Shape.Rank != 4 || !x.Shape[1].IsConstant || !x.Shape[2].IsConstant || !x.Shape[3].IsConstant)
            c.Fail(Codes.RankMismatch, $"{op} expects [N, C, H, W] with constant C, H, W; got {x.Shape}", op, 4);
        return (x.Shape[1].Coef, x.Shape[2].Coef, x.Shape[3].Coef);
    }

    internal static long OutSize(OpCall c, string op, long size, long kernel, long stride, long pad, long dilation, string axis)
    {
        var span = dilation * (kernel - 1) + 1;
        if (stride < 1 || pad < 0 || dilation < 1 || kernel < 1)
            c.Fail(Codes.BadValue, null, $"Give {op} a positive kernel, stride and dilation and a padding of 0 or more");
        var o = (size + 2 * pad - span) / stride + 1;
        if (size + 2 * pad < span)
            c.Fail(Codes.ShapeMismatch, $"{op}: the {axis} axis is {size} (+{2 * pad} padding) but the kernel spans {span}", op);
        return o;
    }

    /// <summary>The arguments convolutions share, with the checks they share: filters, kernel, stride, padding, dilation, groups.</summary>
    internal static (long Filters, long[] K, long[] S, long[] P, long[] D, long Groups) ReadConv(OpCall c, string op, long ch)
    {
        var filters = c.Int("filters");
        var k = c.Ints("kernel", 2);
        var s = c.Ints("stride", 2);
        var p = c.Ints("padding", 2);
        var d = c.Ints("dilation", 2);
        var groups = c.Int("groups");
        if (filters <= 0) c.Fail(Codes.BadValue, null, $"Give {op} a positive number of filters, not {filters}");
        if (groups < 1 || ch % groups != 0 || filters % groups != 0)
            c.Fail(Codes.ShapeMismatch, $"groups {groups} must divide the input channels {ch} and the filters {filters}", op);
        return (filters, k, s, p, d, groups);
    }

    /// <summary>y = x·weight[c] + bias[c] for each channel map: subsampling's coefficient and bias, an affine norm's γ and β.</summary>
    internal static Node ScaleShiftPerMap(OpCall c, Node x, Node weight, Node bias, string layer)
    {
        var perMap = new Shape(weight.Shape[0].Coef, 1, 1);
        var weightMap = c.Binder.AddOp("reshape", new[] { weight.Id }, perMap, DType.F32, null, c.Span);
        var biasMap = c.Binder.AddOp("reshape", new[] { bias.Id }, perMap, DType.F32, null, c.Span);
        var scaled = c.Binder.AddOp("mul", new[] { x.Id, weightMap.Id }, x.Shape, DType.F32, null, c.Span);
        return c.Binder.AddOp("add", new[] { scaled.Id, biasMap.Id }, x.Shape, DType.F32, null, c.Span, layer);
    }

    internal static Value Pool(OpCall c, string mode)
    {
        var x = c.Tensor("x");
        var (ch, h, w) = RequireImage(c, x, mode + "pool");
        var k = c.Ints("kernel", 2);
        var s = c.Has("stride") ? c.Ints("stride", 2) : k;
        var p = c.Ints("padding", 2);
        if (p[0] * 2 > k[0] || p[1] * 2 > k[1]) c.Fail(Codes.BadValue, null, "Pad a pooling window by at most half its size");
        var oh = OutSize(c, mode + "pool", h, k[0], s[0], p[0], 1, "height");
        var ow = OutSize(c, mode + "pool", w, k[1], s[1], p[1], 1, "width");
        var node = c.Binder.AddOp("pool2d", new[] { x.Id }, new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)oh, (Dim)ow }), DType.F32,
            new Dictionary<string, object> { ["mode"] = mode, ["kernel"] = k, ["stride"] = s, ["padding"] = p }, c.Span, mode + "pool");
        return new TensorValue(node);
    }

    internal static Value GlobalAvgPool(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, h, w) = RequireImage(c, x, "global_avgpool");
        var pooled = c.Binder.AddOp("pool2d", new[] { x.Id }, new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)1, (Dim)1 }), DType.F32,
            new Dictionary<string, object> { ["mode"] = "avg", ["kernel"] = new[] { h, w }, ["stride"] = new[] { h, w }, ["padding"] = new[] { 0L, 0L } },
            c.Span, "global_avgpool");
        return new TensorValue(c.Binder.AddOp("reshape", new[] { pooled.Id }, new Shape(new[] { x.Shape[0], (Dim)ch }), DType.F32, null, c.Span));
    }

    /// <summary><c>reshape(x, [d1, d2, …])</c>: new dimensions after the batch axis; one of them may be -1.</summary>
    internal static Value Reshape(OpCall c)
    {
        var x = c.Tensor("x");
        var dims = c.Args["shape"] is NumberValue ? c.Ints("shape", 1) : c.Ints("shape", ((ListValue)c.Args["shape"]).Items.Count);
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"reshape keeps the batch axis; got {x.Shape}", "reshape", "1 or more");
        var rest = x.Shape.Dims.Skip(1).Aggregate((Dim)1, (a, b) => a * b);
        if (!rest.IsConstant) c.Fail(Codes.BadDimension, $"reshape needs constant dimensions after the batch axis; got {x.Shape}", "Reshape only constant dimensions");
        var known = dims.Where(v => v != -1).Aggregate(1L, (a, b) => a * b);
        if (dims.Count(v => v == -1) > 1 || dims.Any(v => v == 0 || v < -1)) c.Fail(Codes.BadValue, null, "Use positive dimensions and at most one -1");
        var filled = dims.Select(v => v == -1 ? (known == 0 ? 0 : rest.Coef / known) : v).ToArray();
        if (filled.Aggregate(1L, (a, b) => a * b) != rest.Coef)
            c.Fail(Codes.ShapeMismatch, $"reshape of {x.Shape} to [{x.Shape[0]}, {string.Join(", ", dims)}]: {rest.Coef} elements per example do not fit", "reshape");
        var shape = new Shape(new[] { x.Shape[0] }.Concat(filled.Select(v => (Dim)v)).ToArray());
        return new TensorValue(c.Binder.AddOp("reshape", new[] { x.Id }, shape, x.DType, null, c.Span, "reshape"));
    }

    internal static Value Concat(OpCall c)
    {
        var xs = c.Tensors("tensors");
        var axis = c.Int("axis");
        var first = xs[0].Shape;
        if (axis < 0) axis += first.Rank;
        if (axis < 0 || axis >= first.Rank) c.Fail(Codes.BadValue, null, $"Concatenate along an axis of 0..{first.Rank - 1}");
        Dim total = 0;
        var sum = 0L;
        foreach (var x in xs)
        {
            if (x.DType != DType.F32) c.Fail(Codes.DTypeMismatch, null, "concat", "f32", "i32");
            if (x.Shape.Rank != first.Rank || Enumerable.Range(0, first.Rank).Any(d => d != axis && x.Shape[d] != first[d]))
                c.Fail(Codes.ShapeMismatch, $"concat along axis {axis}: {string.Join(" and ", xs.Select(t => t.Shape))} differ elsewhere", "concat");
            if (!x.Shape[(int)axis].IsConstant) c.Fail(Codes.BadDimension, null, "Concatenate along a constant axis");
            sum += x.Shape[(int)axis].Coef;
        }
        total = sum;
        var dims = first.Dims.ToArray();
        dims[axis] = total;
        return new TensorValue(c.Binder.AddOp("concat", xs.Select(x => x.Id).ToArray(), new Shape(dims), DType.F32,
            new Dictionary<string, object> { ["axis"] = axis }, c.Span, "concat"));
    }

    internal static Value BatchNorm(OpCall c)
    {
        var x = c.Tensor("x");
        if ((x.Shape.Rank != 2 && x.Shape.Rank != 4) || !x.Shape[1].IsConstant)
            c.Fail(Codes.RankMismatch, $"batchnorm expects [N, C] or [N, C, H, W]; got {x.Shape}", "batchnorm", "2 or 4");
        var ch = x.Shape[1].Coef;
        var momentum = c.Number("momentum");
        var eps = c.Number("eps");
        if (momentum < 0 || momentum > 1 || eps <= 0) c.Fail(Codes.BadValue, null, "Give batchnorm a momentum in [0, 1] and a positive eps");
        var gamma = c.Binder.Param("weight", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span);
        var beta = c.Binder.Param("bias", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span);
        var mean = c.Binder.Param("running_mean", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span, trainable: false);
        var variance = c.Binder.Param("running_var", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span, trainable: false);
        var attrs = new Dictionary<string, object> { ["eps"] = eps, ["momentum"] = momentum };
        var stats = c.Binder.AddOp("bn_stats", new[] { x.Id, mean.Id, variance.Id }, new Shape(2, ch), DType.F32, attrs, c.Span);
        var y = c.Binder.AddOp("bn_apply", new[] { x.Id, stats.Id, gamma.Id, beta.Id }, x.Shape, DType.F32, attrs, c.Span, "batchnorm");
        y.Connections = x.Shape.Numel.PerExample * 2;
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    internal static Value Dropout(OpCall c)
    {
        var x = c.Tensor("x");
        var p = c.Number("p");
        if (p < 0 || p >= 1) c.Fail(Codes.BadValue, null, $"Give dropout a probability in [0, 1), not {p}");
        var attrs = new Dictionary<string, object> { ["p"] = p };
        var node = c.Binder.AddOp("dropout", new[] { x.Id }, x.Shape, DType.F32, attrs, c.Span, "dropout");
        attrs["stream"] = (long)node.Id; // the mask's random stream; backward reuses it
        return new TensorValue(node);
    }

    internal static Value Subsample(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, _, _) = RequireImage(c, x, "subsample");
        var k = c.Ints("kernel", 2);
        var pooled = Pool(new OpCall(c.Binder, c.Op, c.Span, new Dictionary<string, Value>
        {
            ["x"] = c.Args["x"], ["kernel"] = c.Args["kernel"], ["stride"] = c.Args["kernel"], ["padding"] = ZeroInt,
        }), "sum");
        var pool = ((TensorValue)pooled).Node;
        pool.Layer = null;
        var coef = c.Binder.Param("weight", new Shape(ch), c.Init("init"), k[0] * k[1], 1, c.Span);
        var bias = c.Binder.Param("bias", new Shape(ch), c.Init("bias_init"), k[0] * k[1], 1, c.Span);
        var y = ScaleShiftPerMap(c, pool, coef, bias, "subsample");
        y.Connections = pool.Shape.Numel.PerExample * (k[0] * k[1] + 1);
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    /// <summary>y[n, i] = Σ_j (x[n, j] − w[i, j])²: the Euclidean RBF units of LeNet-5's output layer.</summary>
    internal static Value Rbf(OpCall c)
    {
        var x = c.Tensor("x");
        var units = c.Int("units");
        if (x.Shape.Rank != 2 || !x.Shape[1].IsConstant) c.Fail(Codes.RankMismatch, $"rbf expects [N, features]; got {x.Shape}", "rbf", 2);
        if (units <= 0) c.Fail(Codes.BadValue, null, $"Give rbf a positive number of units, not {units}");
        var d = x.Shape[1].Coef;
        var w = c.Binder.Param("weight", new Shape(units, d), c.Init("init"), d, units, c.Span, c.Bool("trainable"));
        var node = c.Binder.AddOp("rbf", new[] { x.Id, w.Id }, new Shape(new[] { x.Shape[0], (Dim)units }), DType.F32, null, c.Span, "rbf");
        node.Macs = units * d;
        node.Connections = units * d;
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }
}
