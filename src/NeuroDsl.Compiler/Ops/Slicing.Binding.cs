using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Ops;

/// <summary>The shape rules of slicing: resolving <c>x[…]</c>, <c>split</c> and <c>flip</c> into nodes, with located errors.</summary>
public sealed partial class Slicing
{
    /// <summary>
    /// <c>x[items]</c> with NumPy's meaning for constant indices, except that bounds are checked, not clamped (a
    /// bound outside the axis is an error), steps are positive (<c>flip</c> reverses), and an axis of symbolic
    /// size (the batch N) is only taken whole (<c>:</c>).
    /// </summary>
    internal static Value Index(Binder binder, Node x, IReadOnlyList<IndexItem> items, SourceSpan span)
    {
        var ellipses = items.Where(i => i.Kind == IndexItemKind.Ellipsis).ToList();
        if (ellipses.Count > 1)
            binder.Fail(Codes.BadValue, ellipses[1].Span, "'...' stands for all the axes the other indices leave", "Use '...' once in an index");
        var rank = x.Shape.Rank;
        var given = items.Count - ellipses.Count;
        if (given > rank)
            binder.Fail(Codes.RankMismatch, span, $"{given} indices for a tensor of shape {x.Shape}", "[]", $"{given} or more");
        // Expand '...' (or the missing trailing axes) into whole-axis ranges.
        var whole = Enumerable.Repeat<IndexItem?>(null, rank - given).ToList();
        var perAxis = new List<IndexItem?>();
        foreach (var item in items)
            if (item.Kind == IndexItemKind.Ellipsis) perAxis.AddRange(whole);
            else perAxis.Add(item);
        if (ellipses.Count == 0) perAxis.AddRange(whole);

        var begin = new long[rank];
        var step = new long[rank];
        var counts = new Dim[rank];
        var kept = new List<Dim>();
        for (var d = 0; d < rank; d++)
        {
            var size = x.Shape[d];
            var item = perAxis[d];
            step[d] = 1;
            counts[d] = size;
            if (item is null || (item.Kind == IndexItemKind.Range && item.Start is null && item.Stop is null && item.Step is null or 1))
            {
                kept.Add(size);
                continue;
            }
            if (!size.IsConstant)
                binder.Fail(Codes.BadDimension, item.Span, $"axis {d} of {x.Shape} has the symbolic size {size}",
                    $"Take axis {d} whole with ':'; only an axis of constant size can be indexed or sliced");
            var n = size.Coef;
            if (item.Kind == IndexItemKind.Index)
            {
                var i = item.Start!.Value;
                if (i < -n || i >= n)
                    binder.Fail(Codes.BadValue, item.Span, $"axis {d} of {x.Shape} has size {n}", $"Use an index from {-n} to {n - 1}, not {i}");
                begin[d] = i < 0 ? i + n : i;
                counts[d] = 1;
                continue;
            }
            var k = item.Step ?? 1;
            if (k <= 0)
                binder.Fail(Codes.BadValue, item.Span, k < 0 ? "negative steps are not supported; flip(x, axis: k) reverses an axis" : null,
                    $"Give the slice a positive step, not {k}");
            long Bound(long? value, long dflt, string what)
            {
                var b = value ?? dflt;
                if (b < -n || b > n)
                    binder.Fail(Codes.BadValue, item.Span, $"axis {d} of {x.Shape} has size {n}; bounds are checked, not clamped",
                        $"Give the slice a {what} from {-n} to {n}, not {b}");
                return b < 0 ? b + n : b;
            }
            var start = Bound(item.Start, 0, "start");
            var stop = Bound(item.Stop, n, "stop");
            if (stop <= start)
                binder.Fail(Codes.BadValue, item.Span, $"axis {d} of {x.Shape} has size {n}", $"Slice at least one element: {start} to {stop} is empty");
            begin[d] = start;
            step[d] = k;
            counts[d] = (stop - start + k - 1) / k;
            kept.Add(counts[d]);
        }
        var sliced = new Shape(counts);
        if (sliced.Equals(x.Shape) && kept.Count == rank) return new TensorValue(x);
        var dropsAxes = kept.Count < rank;
        var node = Slice(binder, x, begin, step, sliced, span, dropsAxes ? null : "slice");
        if (dropsAxes)
            node = binder.AddOp(Reshaping.Reshape, new[] { node.Id }, new Shape(kept), x.DType, null, span, "slice");
        return new TensorValue(node);
    }

    private static Node Slice(Binder binder, Node x, long[] begin, long[] step, Shape counts, SourceSpan span, string? layer) =>
        binder.AddOp(StridedSlice, new[] { x.Id }, counts, x.DType,
            new Dictionary<string, object> { ["begin"] = begin, ["step"] = step }, span, layer);

    private static Value BindSplit(OpCall c)
    {
        var x = c.Tensor("x");
        var axis = Axis(c, x, c.Int("axis"));
        var size = x.Shape[axis];
        if (!size.IsConstant)
            c.Fail(Codes.BadDimension, $"axis {axis} of {x.Shape} has the symbolic size {size}", "Split an axis of constant size");
        long[] sizes;
        if (c.Args["parts"] is NumberValue count)
        {
            var k = (long)count.Number;
            if (k <= 0) c.Fail(Codes.BadValue, null, $"Split into a positive number of parts, not {k}");
            if (size.Coef % k != 0)
                c.Fail(Codes.ShapeMismatch, $"split into {k} equal parts: axis {axis} of {x.Shape} has size {size.Coef}, not a multiple of {k}", "split");
            sizes = Enumerable.Repeat(size.Coef / k, (int)k).ToArray();
        }
        else
        {
            sizes = ((ListValue)c.Args["parts"]).Items.Select(i => (long)((NumberValue)i).Number).ToArray();
            if (sizes.Length == 0 || sizes.Any(s => s <= 0))
                c.Fail(Codes.BadValue, null, $"Give split positive part sizes, not [{string.Join(", ", sizes)}]");
            if (sizes.Sum() != size.Coef)
                c.Fail(Codes.ShapeMismatch, $"split sizes {string.Join(" + ", sizes)} = {sizes.Sum()}, but axis {axis} of {x.Shape} has size {size.Coef}", "split");
        }
        var parts = new List<Value>();
        var offset = 0L;
        foreach (var s in sizes)
        {
            var begin = new long[x.Shape.Rank];
            begin[axis] = offset;
            var dims = x.Shape.Dims.ToArray();
            dims[axis] = s;
            parts.Add(new TensorValue(Slice(c.Binder, x, begin, Enumerable.Repeat(1L, x.Shape.Rank).ToArray(), new Shape(dims), c.Span, "split")));
            offset += s;
        }
        return new ListValue(parts);
    }

    private static Value BindFlip(OpCall c)
    {
        var x = c.Tensor("x");
        var requested = c.Args["axis"] is NumberValue one ? new[] { (long)one.Number }
            : ((ListValue)c.Args["axis"]).Items.Select(i => (long)((NumberValue)i).Number).ToArray();
        var axes = requested.Select(a => (long)Axis(c, x, a)).ToArray();
        if (axes.Length == 0 || axes.Distinct().Count() != axes.Length)
            c.FailAt("axis", Codes.BadValue, null, $"Flip each axis once, not [{string.Join(", ", requested)}]");
        System.Array.Sort(axes);
        return new TensorValue(c.Binder.AddOp(Flip, new[] { x.Id }, x.Shape, x.DType,
            new Dictionary<string, object> { ["axes"] = axes }, c.Span, "flip"));
    }

    /// <summary>An axis from −rank to rank − 1, as a non-negative axis; a bad one is reported at the argument.</summary>
    private static int Axis(OpCall c, Node x, long axis) => Axes.One(c, "axis", axis, x.Shape);
}
