using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Graph construction with shape rules; each failure is a located diagnostic with the shapes in its note.</summary>
public sealed partial class Binder
{
    /// <summary>
    /// The most ops one model may make. GPT-2 small makes about 800; the passes after binding are not all linear
    /// in the graph's size (row fusion walks each elementwise region once per root), so a 10 MB chain of sums must
    /// stop here with a located error instead of keeping the build or the IDE busy for hours.
    /// </summary>
    public const int MaxOps = 10_000;

    // Set at the first op past MaxOps: the rest of the model is skipped without one report per statement.
    private bool _tooLarge;

    internal Node AddOp(Ops.OpDef op, IReadOnlyList<int> inputs, Shape shape, DType dtype,
        IReadOnlyDictionary<string, object>? attrs, SourceSpan span, string? layer = null)
    {
        if (_tooLarge) throw new ReportedException();
        if (_graph.Nodes.Count >= MaxOps)
        {
            _tooLarge = true;
            Fail(Codes.ModelTooLarge, span, "split it into models of fewer ops", MaxOps);
        }
        // Outside a statement (an input's or a parameter's dimensions) only constants are computed: an op there is a
        // tensor where a size belongs (found by the fuzzer: it was an internal error, "Stack empty").
        if (_frames.Count == 0)
            Fail(Codes.NotConstant, span, "a dimension is a number or a size symbol, not a tensor", "dimension");
        var node = _graph.Add(NodeKind.Op, op, inputs, shape, dtype, attrs, span);
        node.Layer = layer;
        _frames.Peek().Ops.Add(node);
        return node;
    }

    /// <summary>How many ops the current statement has made: the mark <see cref="Composite"/> counts from.</summary>
    internal int OpsMark() => _frames.Peek().Ops.Count;

    /// <summary>
    /// Makes the ops added since <paramref name="mark"/> the parts of <paramref name="final"/>, the value of a composite
    /// op: the statement names them after it, and counts the composition as one stage.
    /// </summary>
    internal Node Composite(Node final, int mark)
    {
        var ops = _frames.Peek().Ops;
        var parts = ops.Skip(mark).Where(n => n != final).ToList();
        ops.RemoveRange(mark, ops.Count - mark);
        ops.Add(final);
        _frames.Peek().Parts[final] = parts;
        return final;
    }

    internal Node Param(string baseName, Shape shape, InitSpec init, long fanIn, long fanOut, SourceSpan span,
        bool trainable = true, long[]? mask = null, long maskBlock = 1)
    {
        var node = _graph.Add(NodeKind.Param, Ops.Leaves.Param, Array.Empty<int>(), shape, DType.F32, null, span);
        node.Param = new ParamInfo(baseName, init, fanIn, fanOut, trainable, mask, maskBlock);
        _graph.ParamIds.Add(node.Id);
        _pendingParams.Add((node, baseName));
        return node;
    }

    /// <summary>Gives the parameters created since the last call to the layer node that uses them.</summary>
    internal void OwnParams(Node? owner)
    {
        foreach (var (param, baseName) in _pendingParams)
        {
            _frames.Peek().Params.Add((param, owner ?? param, baseName));
            param.Owner = owner?.Id;
        }
        _pendingParams = new List<(Node, string)>();
    }

    private void FlushPendingParams(Node? owner) => OwnParams(owner);

    internal Node Const(double value, SourceSpan span)
    {
        var node = _graph.Add(NodeKind.Const, Ops.Leaves.Const, Array.Empty<int>(), Shape.Scalar, DType.F32,
            new Dictionary<string, object> { ["value"] = value }, span);
        node.Name = "const";
        return node;
    }

    internal Value Elementwise(Ops.OpDef op, SourceSpan span, params Node[] inputs)
    {
        var prim = op.Name;
        RequireFloat(prim, span, inputs);
        var shape = inputs[0].Shape;
        foreach (var other in inputs.Skip(1))
        {
            var next = Shape.Broadcast(shape, other.Shape);
            if (next is null)
                Fail(Codes.ShapeMismatch, span,
                    $"{prim} broadcasts {shape} with {other.Shape}: aligned from the right, each pair of dimensions must be equal or 1",
                    prim);
            shape = next!;
        }
        return new TensorValue(AddOp(op, inputs.Select(i => i.Id).ToArray(), shape, DType.F32, null, span, prim));
    }

    internal Value Unary(Ops.OpDef op, Node x, SourceSpan span, int requireRank)
    {
        var prim = op.Name;
        RequireFloat(prim, span, x);
        if (x.Shape.Rank < requireRank)
            Fail(Codes.RankMismatch, span, $"{prim} works over the last axis; got {x.Shape}", prim, $"{requireRank} or more");
        return new TensorValue(AddOp(op, new[] { x.Id }, x.Shape, DType.F32, null, span, prim));
    }

    internal Value MatMul(Node a, Node b, SourceSpan span) => Ops.MatMul.Bind(this, a, b, span);

    internal Value LossMean(Ops.OpDef op, Node prediction, Node target, SourceSpan span)
    {
        var prim = op.Name;
        RequireFloat(prim, span, prediction, target);
        if (!prediction.Shape.Equals(target.Shape))
            Fail(Codes.ShapeMismatch, span, $"{prim} takes a prediction and a target of one shape; got {prediction.Shape} and {target.Shape}", prim);
        return new TensorValue(AddOp(op, new[] { prediction.Id, target.Id }, Shape.Scalar, DType.F32, null, span, prim));
    }

    /// <summary>A reduction of the whole tensor to a scalar (mean, sum).</summary>
    internal Value Reduce(Ops.OpDef op, Node x, SourceSpan span)
    {
        RequireFloat(op.Name, span, x);
        return new TensorValue(AddOp(op, new[] { x.Id }, Shape.Scalar, DType.F32, null, span, op.Name));
    }

    internal void RequireFloat(string op, SourceSpan span, params Node[] inputs)
    {
        foreach (var input in inputs)
            if (input.DType != DType.F32)
                Fail(Codes.DTypeMismatch, span, $"{input.Name} is {input.DType.ToString().ToLowerInvariant()}{input.Shape}", op, "f32", input.DType.ToString().ToLowerInvariant());
    }
}
