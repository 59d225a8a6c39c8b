using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Reference;

/// <summary>
/// The living definition of every primitive: evaluates a graph (forward and backward nodes) in float64 on
/// the host, in plain loops. Kernels are tested against it, and it against finite differences.
/// </summary>
public static partial class ReferenceInterpreter
{
    /// <summary>Evaluates every node; leaves come from <paramref name="leaves"/> by node id (inputs and parameters).</summary>
    public static double[][] Run(Graph graph, IReadOnlyDictionary<string, long> symbols, IReadOnlyDictionary<int, double[]> leaves)
    {
        var values = new double[graph.Nodes.Count][];
        foreach (var node in graph.Nodes)
        {
            values[node.Id] = node.Kind switch
            {
                NodeKind.Const => new[] { node.ConstValue },
                NodeKind.Input or NodeKind.Param => leaves.TryGetValue(node.Id, out var v) ? v
                    : throw new ArgumentException("no value for leaf " + node.Name),
                _ => Eval(graph, node, symbols, values),
            };
        }
        return values;
    }

    private static double[] Eval(Graph graph, Node node, IReadOnlyDictionary<string, long> symbols, double[][] values)
    {
        var prim = Prims.Get(node.Op);
        var ins = node.Inputs.Select(i => values[i]).ToArray();
        var inShapes = node.Inputs.Select(i => graph[i].Shape.Eval(symbols)).ToArray();
        var outShape = node.Shape.Eval(symbols);
        var numel = Numel(outShape);
        switch (prim.Kind)
        {
            case PrimKind.Elementwise:
            {
                var result = new double[numel];
                var args = new double[ins.Length];
                var maps = inShapes.Select(s => BroadcastMap(s, outShape)).ToArray();
                for (var i = 0; i < numel; i++)
                {
                    for (var k = 0; k < ins.Length; k++) args[k] = ins[k][maps[k](i)];
                    result[i] = prim.Reference!(args, numel);
                }
                return result;
            }
            case PrimKind.LossMean:
            {
                var n = Numel(inShapes[0]);
                var maps = inShapes.Select(s => BroadcastMap(s, inShapes[0])).ToArray();
                var args = new double[ins.Length];
                var sum = 0.0;
                for (var i = 0; i < n; i++)
                {
                    for (var k = 0; k < ins.Length; k++) args[k] = ins[k][maps[k](i)];
                    sum += prim.Reference!(args, n);
                }
                return new[] { sum / n };
            }
            case PrimKind.SumTo:
            {
                var result = new double[numel];
                var map = BroadcastMap(outShape, inShapes[0]);
                for (var i = 0; i < ins[0].Length; i++) result[map(i)] += ins[0][i];
                return result;
            }
            case PrimKind.View:
                return ins[0];
            case PrimKind.Gemm:
                return Gemm(node, ins, inShapes);
            case PrimKind.Row:
                return Row(node, ins, inShapes[0]);
            case PrimKind.Custom:
                return Structured(node, ins, inShapes, outShape, symbols);
            default:
                throw new InvalidOperationException("no reference for " + node.Op);
        }
    }

    public static long Numel(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Maps a flat index of <paramref name="to"/> to the flat index of a broadcast operand of shape <paramref name="from"/>.</summary>
    private static Func<int, int> BroadcastMap(long[] from, long[] to)
    {
        if (from.SequenceEqual(to)) return i => i;
        var pad = to.Length - from.Length;
        return i =>
        {
            long index = 0, stride = 1, rest = i;
            var coords = new long[to.Length];
            for (var d = to.Length - 1; d >= 0; d--)
            {
                coords[d] = rest % to[d];
                rest /= to[d];
            }
            for (var d = from.Length - 1; d >= 0; d--)
            {
                if (from[d] != 1) index += coords[d + pad] * stride;
                stride *= from[d];
            }
            return (int)index;
        };
    }

    private static double[] Gemm(Node node, double[][] ins, long[][] shapes)
    {
        var a = ins[0];
        var b = ins[1];
        long m, k, n;
        bool ta, tb;
        if (node.Op == "linear")
        {
            k = shapes[0][shapes[0].Length - 1];
            m = Numel(shapes[0]) / k;
            n = shapes[1][0];
            ta = false;
            tb = true;
        }
        else
        {
            ta = node.AttrBool("ta");
            tb = node.AttrBool("tb");
            m = ta ? shapes[0][1] : shapes[0][0];
            k = ta ? shapes[0][0] : shapes[0][1];
            n = tb ? shapes[1][0] : shapes[1][1];
        }
        var c = new double[m * n];
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                var sum = ins.Length > 2 ? ins[2][j] : 0.0;
                for (var p = 0; p < k; p++)
                    sum += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = sum;
            }
        return c;
    }

    private static double[] Row(Node node, double[][] ins, long[] shape)
    {
        var c = (int)shape[shape.Length - 1];
        var rows = (int)(Numel(shape) / c);
        var x = ins[0];
        double[] Softmax(int row)
        {
            var m = Enumerable.Range(0, c).Max(j => x[row * c + j]);
            var e = Enumerable.Range(0, c).Select(j => Math.Exp(x[row * c + j] - m)).ToArray();
            var s = e.Sum();
            return e.Select(v => v / s).ToArray();
        }
        switch (node.Op)
        {
            case "softmax":
                return Enumerable.Range(0, rows).SelectMany(Softmax).ToArray();
            case "softmax_grad":
            {
                var dy = ins[1];
                var dx = new double[x.Length];
                for (var r = 0; r < rows; r++)
                {
                    var dot = 0.0;
                    for (var j = 0; j < c; j++) dot += x[r * c + j] * dy[r * c + j];
                    for (var j = 0; j < c; j++) dx[r * c + j] = x[r * c + j] * (dy[r * c + j] - dot);
                }
                return dx;
            }
            case "cross_entropy":
            {
                var soft = node.AttrBool("soft");
                var total = 0.0;
                for (var r = 0; r < rows; r++)
                {
                    var p = Softmax(r);
                    if (soft)
                        for (var j = 0; j < c; j++) total -= ins[1][r * c + j] * Math.Log(p[j]);
                    else
                    {
                        var label = (int)ins[1][r];
                        total += label >= 0 && label < c ? -Math.Log(p[label]) : double.NaN;
                    }
                }
                return new[] { total / rows };
            }
            case "cross_entropy_grad":
            {
                var soft = node.AttrBool("soft");
                var dx = new double[x.Length];
                var scale = ins[2][0] / rows;
                for (var r = 0; r < rows; r++)
                {
                    var p = Softmax(r);
                    var target = soft ? Enumerable.Range(0, c).Select(j => ins[1][r * c + j]).ToArray()
                        : Enumerable.Range(0, c).Select(j => j == (int)ins[1][r] ? 1.0 : 0.0).ToArray();
                    var mass = target.Sum();
                    for (var j = 0; j < c; j++) dx[r * c + j] = (p[j] * mass - target[j]) * scale;
                }
                return dx;
            }
            default:
                throw new InvalidOperationException("no reference for " + node.Op);
        }
    }
}
