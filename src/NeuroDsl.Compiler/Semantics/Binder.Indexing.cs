using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

public sealed partial class Binder
{
    /// <summary><c>x[:, t]</c>, <c>x[..., 0:64]</c>: constant indices and bounds, sliced by <see cref="Slicing"/>.</summary>
    private Value IndexTensor(IndexExpr index, Node x, Scope scope)
    {
        long? Bound(Expr? bound, string what) => bound is null ? null : RequireInt(Eval(bound, scope), what, bound.Span);
        var items = index.Indices.Select(e => e switch
        {
            EllipsisExpr => IndexItem.Ellipsis(e.Span),
            SliceExpr s => IndexItem.Range(Bound(s.Start, "slice start"), Bound(s.Stop, "slice stop"), Bound(s.Step, "slice step"), e.Span),
            _ => IndexItem.At(RequireInt(Eval(e, scope), "index", e.Span), e.Span),
        }).ToList();
        return Slicing.Index(this, x, items, index.Span);
    }
}
