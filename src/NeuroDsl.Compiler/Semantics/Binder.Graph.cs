using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Graph construction with shape rules; each failure is a located diagnostic with the shapes in its note.</summary>
public sealed partial class Binder
{
    internal Node AddOp(string prim, IReadOnlyList<int> inputs, Shape shape, DType dtype,
        IReadOnlyDictionary<string, object>? attrs, SourceSpan span, string? layer = null)
    {
        var node = _graph.Add(NodeKind.Op, prim, inputs, shape, dtype, attrs, span);
        node.Layer = layer;
        _frames.Peek().Ops.Add(node);
        return node;
    }

    internal Node Param(string baseName, Shape shape, InitSpec init, long fanIn, long fanOut, SourceSpan span,
        bool trainable = true, long[]? mask = null, long maskBlock = 1)
    {
        var node = _graph.Add(NodeKind.Param, "param", Array.Empty<int>(), shape, DType.F32, null, span);
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
        var node = _graph.Add(NodeKind.Const, "const", Array.Empty<int>(), Shape.Scalar, DType.F32,
            new Dictionary<string, object> { ["value"] = value }, span);
        node.Name = "const";
        return node;
    }

    internal Value Elementwise(string prim, SourceSpan span, params Node[] inputs)
    {
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
        return new TensorValue(AddOp(prim, inputs.Select(i => i.Id).ToArray(), shape, DType.F32, null, span, prim));
    }

    internal Value Unary(string prim, Node x, SourceSpan span, int requireRank)
    {
        RequireFloat(prim, span, x);
        if (x.Shape.Rank < requireRank)
            Fail(Codes.RankMismatch, span, $"{prim} works over the last axis; got {x.Shape}", prim, $"{requireRank} or more");
        return new TensorValue(AddOp(prim, new[] { x.Id }, x.Shape, DType.F32, null, span, prim));
    }

    internal Value MatMul(Node a, Node b, SourceSpan span)
    {
        RequireFloat("matmul", span, a, b);
        if (a.Shape.Rank != 2 || b.Shape.Rank != 2)
            Fail(Codes.RankMismatch, span, $"matmul takes [M, K] @ [K, N]; got {a.Shape} @ {b.Shape}", "matmul", 2);
        if (a.Shape[1] != b.Shape[0])
            Fail(Codes.ShapeMismatch, span, $"matmul takes [M, K] @ [K, N]; got {a.Shape} @ {b.Shape} ({a.Shape[1]} ≠ {b.Shape[0]})", "matmul");
        var attrs = new Dictionary<string, object> { ["ta"] = false, ["tb"] = false };
        var node = AddOp("matmul", new[] { a.Id, b.Id }, new Shape(new[] { a.Shape[0], b.Shape[1] }), DType.F32, attrs, span, "matmul");
        if (a.Shape[1].IsConstant && b.Shape[1].IsConstant) node.Macs = a.Shape[0].PerExample * a.Shape[1].Coef * b.Shape[1].Coef;
        return new TensorValue(node);
    }

    internal Value LossMean(string prim, Node prediction, Node target, SourceSpan span)
    {
        RequireFloat(prim, span, prediction, target);
        if (!prediction.Shape.Equals(target.Shape))
            Fail(Codes.ShapeMismatch, span, $"{prim} takes a prediction and a target of one shape; got {prediction.Shape} and {target.Shape}", prim);
        return new TensorValue(AddOp(prim, new[] { prediction.Id, target.Id }, Shape.Scalar, DType.F32, null, span, prim));
    }

    internal Value Mean(Node x, SourceSpan span)
    {
        RequireFloat("mean", span, x);
        return new TensorValue(AddOp("mean", new[] { x.Id }, Shape.Scalar, DType.F32, null, span, "mean"));
    }

    /// <summary>
    /// Mean over rows of −Σ_j p_j·log softmax(x)_j: with class indices (i32[N]) p is one-hot; with a
    /// distribution per row (f32[N, C], AlphaGo Zero's search probabilities) p is that distribution.
    /// </summary>
    internal Value CrossEntropy(Node logits, Node labels, SourceSpan span)
    {
        RequireFloat("cross_entropy", span, logits);
        if (logits.Shape.Rank != 2 || !logits.Shape[1].IsConstant)
            Fail(Codes.ShapeMismatch, span, $"cross_entropy takes logits [N, C]; got {logits.Shape}", "cross_entropy");
        var soft = labels.DType == DType.F32;
        if (soft && !labels.Shape.Equals(logits.Shape))
            Fail(Codes.ShapeMismatch, span, $"cross_entropy takes logits [N, C] and probabilities of the same shape; got {logits.Shape} and {labels.Shape}", "cross_entropy");
        if (!soft && (labels.Shape.Rank != 1 || logits.Shape[0] != labels.Shape[0]))
            Fail(Codes.ShapeMismatch, span, $"cross_entropy takes logits [N, C] and labels [N] (or probabilities [N, C]); got {logits.Shape} and {labels.Shape}", "cross_entropy");
        var attrs = soft ? new Dictionary<string, object> { ["soft"] = true } : null;
        return new TensorValue(AddOp("cross_entropy", new[] { logits.Id, labels.Id }, Shape.Scalar, DType.F32, attrs, span, "cross_entropy"));
    }

    internal Value Sum(Node x, SourceSpan span)
    {
        RequireFloat("sum", span, x);
        return new TensorValue(AddOp("sum", new[] { x.Id }, Shape.Scalar, DType.F32, null, span, "sum"));
    }

    private void RequireFloat(string op, SourceSpan span, params Node[] inputs)
    {
        foreach (var input in inputs)
            if (input.DType != DType.F32)
                Fail(Codes.DTypeMismatch, span, $"{input.Name} is {input.DType.ToString().ToLowerInvariant()}{input.Shape}", op, "f32", input.DType.ToString().ToLowerInvariant());
    }
}
