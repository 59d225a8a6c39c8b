using System.Collections.Generic;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>How the fusion pass may treat a node of this op.</summary>
public enum FusionRole
{
    /// <summary>Gets a kernel of its own.</summary>
    None,

    /// <summary>One output element from the input elements at the same (broadcast) index: chains into one kernel.</summary>
    Elementwise,

    /// <summary>May head an elementwise chain that becomes its store epilogue (the direct convolution).</summary>
    EpilogueHead,
}

/// <summary>A node to evaluate in float64: its inputs' values and shapes, and the symbols of this run.</summary>
public sealed class RefCall
{
    internal RefCall(Node node, double[][] inputs, long[][] inputShapes, long[] outShape, IReadOnlyDictionary<string, long> symbols)
    {
        Node = node;
        Inputs = inputs;
        InputShapes = inputShapes;
        OutShape = outShape;
        Symbols = symbols;
    }

    public Node Node { get; }
    public double[][] Inputs { get; }
    public long[][] InputShapes { get; }
    public long[] OutShape { get; }
    public IReadOnlyDictionary<string, long> Symbols { get; }

    /// <summary>Training mode unless the symbols say otherwise (dropout, batch-norm statistics).</summary>
    public bool Training => !Symbols.TryGetValue(Reference.ReferenceInterpreter.TrainingSymbol, out var t) || t != 0;

    public long Numel => Reference.ReferenceInterpreter.Numel(OutShape);
}

/// <summary>A node to lower to an OpenCL launch: the graph, the node and its inputs.</summary>
public sealed record KernelCall(Graph Graph, Node Node, Node[] Inputs)
{
    /// <summary>
    /// The kernel's name as its text writes it (<see cref="KernelTemplate.Self"/>): the planner names the kernel, so
    /// the same computation lowers to the same text wherever it is.
    /// </summary>
    public string Name => KernelTemplate.Self;
}

/// <summary>
/// One IR primitive and everything every pass needs to know about it: its class (which decides fusion and the
/// shared templates), its gradient rule, its float64 reference and its lowering to a kernel launch. A node holds
/// its definition, so no pass looks an op up by name. Definitions are public static fields of an
/// <see cref="OpFamily"/>; the <see cref="OpRegistry"/> finds them.
/// </summary>
public abstract class OpDef
{
    protected OpDef(string name, PrimKind kind, int arity)
    {
        Name = name;
        Kind = kind;
        Arity = arity;
    }

    /// <summary>The IR name (<c>conv2d_grad_input</c>), as the IR printer and kernel names show it.</summary>
    public string Name { get; }

    public PrimKind Kind { get; }

    /// <summary>Inputs it takes, or -1 for a variable count.</summary>
    public int Arity { get; }

    /// <summary>Whether the node is a scalar loss (a model's <c>loss</c> line must end in one).</summary>
    public virtual bool IsLoss => Kind == PrimKind.LossMean;

    public virtual FusionRole Fusion => Kind == PrimKind.Elementwise ? FusionRole.Elementwise : FusionRole.None;

    /// <summary>
    /// The gradient of each input given the gradient <paramref name="dy"/> of the output (null entries: none
    /// flows there), built from ordinary IR nodes; null when the op has no gradient rule.
    /// </summary>
    public virtual Node?[]? Gradient(GradBuilder g, Node node, Node dy) => null;

    /// <summary>The op's float64 definition, in plain loops: the oracle kernels and gradients are checked against.</summary>
    public abstract double[] Reference(RefCall call);

    /// <summary>The launch (and the OpenCL C of its kernel) that computes the node on the device.</summary>
    public abstract NodeLaunch Lower(KernelCall call);

    /// <summary>OpenCL C this op's kernels call (a helper function), emitted once before the kernels that need it.</summary>
    public virtual string? Prelude => null;

    /// <summary>
    /// For an i32 input that picks something (a row, a class): the exclusive upper bound of its valid values, which
    /// start at 0; null when the input is not such an index or the bound is not a constant. The runtime checks the
    /// model's i32 inputs against it on upload, so a bad label is an error rather than a NaN loss.
    /// </summary>
    public virtual long? IndexLimit(Node node, Node[] inputs, int input) => null;

    /// <summary>A short detail the architecture diagram shows after the layer's op ("6 filters, stride 2").</summary>
    public virtual string Detail(Node node) => "";

    public override string ToString() => Name;
}

/// <summary>Where a definition lives: a class holding ops as public static fields, and the surface ops it offers.</summary>
public abstract class OpFamily
{
    /// <summary>Adds the surface ops (what a <c>.nd</c> file calls) of this family.</summary>
    public virtual void Surface(Semantics.SurfaceTable table)
    {
    }

    /// <summary>The definitions of this family: by default its public static <see cref="OpDef"/> fields.</summary>
    public virtual IEnumerable<OpDef> Definitions()
    {
        foreach (var field in GetType().GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            if (typeof(OpDef).IsAssignableFrom(field.FieldType) && field.GetValue(null) is OpDef def)
                yield return def;
    }
}
