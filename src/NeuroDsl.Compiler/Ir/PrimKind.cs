namespace NeuroDsl.Compiler.Ir;

/// <summary>
/// The class of an op (<see cref="Ops.OpDef.Kind"/>): what the passes that treat ops alike need — fusion (elementwise
/// chains, GEMM epilogues), the planner (views share a buffer; leaves get no launch) and the loss check.
/// </summary>
public enum PrimKind
{
    Leaf,

    /// <summary>One output element from the broadcast input elements at the same index: <see cref="Ops.ElementwiseOp.CExpr"/>.</summary>
    Elementwise,

    /// <summary>Sum over the axes along which the input was broadcast to reach it (<c>sum_to</c>).</summary>
    SumTo,

    /// <summary>Matrix product with optional transposes and a bias epilogue (<c>linear</c>, <c>matmul</c>).</summary>
    Gemm,

    /// <summary>A computation over the last axis, one row per work-item (softmax and its gradient).</summary>
    Row,

    /// <summary>A scalar loss: the mean over all elements of a per-element term.</summary>
    LossMean,

    /// <summary>Same memory, new shape (reshape, flatten): no launch.</summary>
    View,

    /// <summary>A structured op with its own kernel template and reference (convolution, pooling, batch norm…).</summary>
    Custom,
}
