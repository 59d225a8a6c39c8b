using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>Views: the same memory under a new shape, with no launch (<c>reshape</c>, <c>flatten</c>).</summary>
public sealed class Reshaping : OpFamily
{
    public static readonly OpDef Reshape = new ReshapeOp();

    private sealed class ReshapeOp : OpDef
    {
        public ReshapeOp() : base("reshape", PrimKind.View, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Reshape(dy, g.In(node, 0).Shape, node) };

        public override double[] Reference(RefCall call) => call.Inputs[0];

        public override NodeLaunch Lower(KernelCall call) =>
            throw new System.InvalidOperationException("a view has no kernel: it shares its input's buffer");
    }

    public override void Surface(SurfaceTable table)
    {
        table.Def("flatten", Flatten, T("x"));
        table.Def("reshape", BindReshape, T("x"), P("shape", ArgKind.Ints));
    }

    private static Value Flatten(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"flatten expects [N, ...]; got {x.Shape}", "flatten", "1 or more");
        var rest = x.Shape.Dims.Skip(1).Aggregate((Dim)1, (a, d) => a * d);
        var shape = new Shape(new[] { x.Shape[0], rest });
        return new TensorValue(c.Binder.AddOp(Reshape, new[] { x.Id }, shape, x.DType, null, c.Span, "flatten"));
    }

    /// <summary>
    /// <c>reshape(x, [d1, d2, …])</c>: new dimensions after the batch axis; one of them may be -1. When the extent
    /// after the batch axis holds a size symbol (<c>[N, T, 256]</c>), the -1 stands for what is left of it once the
    /// constant dimensions are divided out (<c>[-1, 4, 64]</c> gives <c>[N, T, 4, 64]</c>): attention's head split.
    /// </summary>
    private static Value BindReshape(OpCall c)
    {
        var x = c.Tensor("x");
        var dims = c.Args["shape"] is NumberValue ? c.Ints("shape", 1) : c.Ints("shape", ((ListValue)c.Args["shape"]).Items.Count);
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"reshape keeps the batch axis; got {x.Shape}", "reshape", "1 or more");
        var rest = x.Shape.Dims.Skip(1).Aggregate((Dim)1, (a, b) => a * b);
        var known = dims.Where(v => v != -1).Aggregate(1L, (a, b) => a * b);
        if (dims.Count(v => v == -1) > 1 || dims.Any(v => v == 0 || v < -1)) c.Fail(Codes.BadValue, null, "Use positive dimensions and at most one -1");
        Dim[] filled;
        if (rest.IsConstant)
        {
            filled = dims.Select(v => (Dim)(v == -1 ? (known == 0 ? 0 : rest.Coef / known) : v)).ToArray();
            if (filled.Aggregate(1L, (a, b) => a * b.Coef) != rest.Coef)
                c.Fail(Codes.ShapeMismatch, $"reshape of {x.Shape} to [{x.Shape[0]}, {string.Join(", ", dims)}]: {rest.Coef} elements per example do not fit", "reshape");
        }
        else
        {
            var inferred = dims.Contains(-1) ? rest.DivideBy(known) : null;
            if (inferred is null)
                c.Fail(Codes.BadDimension,
                    $"reshape of {x.Shape} to [{x.Shape[0]}, {string.Join(", ", dims)}]: {rest} elements per example; "
                    + "-1 keeps the size symbol and the other dimensions must divide it",
                    "Reshape a symbolic extent through one -1");
            filled = dims.Select(v => v == -1 ? inferred!.Value : (Dim)v).ToArray();
        }
        var shape = new Shape(new[] { x.Shape[0] }.Concat(filled).ToArray());
        return new TensorValue(c.Binder.AddOp(Reshape, new[] { x.Id }, shape, x.DType, null, c.Span, "reshape"));
    }
}
