using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

public enum ArgKind
{
    Tensor,
    Int,
    Number,
    Bool,
    Init,
    String,

    /// <summary>An integer or a list of integers (a kernel size: 5 or [5, 3]).</summary>
    Ints,

    /// <summary>A list of tensors (concat).</summary>
    TensorList,

    /// <summary>A list of lists of integers (a connection table).</summary>
    Table,
}

/// <summary>One parameter of a builtin: its name, kind and default (null default = required).</summary>
public sealed record ParamSpec(string Name, ArgKind Kind, Value? Default = null);

/// <summary>A surface op the language offers: its signature and how it elaborates into IR nodes.</summary>
public sealed record Builtin(string Name, IReadOnlyList<ParamSpec> Params, Func<OpCall, Value> Apply)
{
    public int Required => Params.Count(p => p.Default is null);
}

/// <summary>A call being elaborated: bound arguments plus the graph-building services of the binder.</summary>
public sealed class OpCall
{
    internal OpCall(Binder binder, Builtin op, SourceSpan span, IReadOnlyDictionary<string, Value> args)
    {
        Binder = binder;
        Op = op;
        Span = span;
        Args = args;
    }

    internal Binder Binder { get; }
    public Builtin Op { get; }
    public SourceSpan Span { get; }
    public IReadOnlyDictionary<string, Value> Args { get; }

    public Node Tensor(string name) => ((TensorValue)Args[name]).Node;
    public long Int(string name) => (long)((NumberValue)Args[name]).Number;
    public double Number(string name) => ((NumberValue)Args[name]).Number;
    public bool Bool(string name) => ((BoolValue)Args[name]).Flag;
    public InitSpec Init(string name) => ((InitValue)Args[name]).Spec;

    /// <summary>An int-or-list argument as exactly <paramref name="count"/> values (5 → [5, 5]).</summary>
    public long[] Ints(string name, int count)
    {
        var v = Args[name];
        if (v is NumberValue n) return Enumerable.Repeat((long)n.Number, count).ToArray();
        var items = ((ListValue)v).Items.Select(i => (long)((NumberValue)i).Number).ToArray();
        if (items.Length != count) Fail(Codes.BadValue, null, $"Give '{name}' one value or {count}, not {items.Length}");
        return items;
    }

    public IReadOnlyList<Node> Tensors(string name) => ((ListValue)Args[name]).Items.Select(i => ((TensorValue)i).Node).ToList();

    public bool Has(string name) => Args[name] is not NoneValue;

    public void Fail(DiagnosticCode code, string? note, params object[] args)
    {
        Binder.Diagnostics.Error(code, Span, note, args);
        throw new ReportedException();
    }
}

/// <summary>The table of surface ops. Each entry's Apply checks shapes and emits IR primitives.</summary>
public static partial class Builtins
{
    private static readonly Dictionary<string, Builtin> Table = new(StringComparer.Ordinal);

    private static readonly Value True = new BoolValue(true);
    private static readonly Value False = new BoolValue(false);
    private static readonly Value None = new NoneValue();
    private static readonly Value GlorotUniform = new InitValue(new InitSpec("glorot_uniform"));
    private static readonly Value Zeros = new InitValue(new InitSpec("zeros"));

    static Builtins()
    {
        // dense(x, units, bias: true, init: glorot_uniform, bias_init: zeros): y = x·Wᵀ + b over the last axis.
        Def("dense", Dense, T("x"), P("units", ArgKind.Int), P("bias", ArgKind.Bool, True),
            P("init", ArgKind.Init, GlorotUniform), P("bias_init", ArgKind.Init, Zeros), P("trainable", ArgKind.Bool, True));
        Def("matmul", c => c.Binder.MatMul(c.Tensor("a"), c.Tensor("b"), c.Span), T("a"), T("b"));

        foreach (var name in new[] { "relu", "tanh", "sigmoid", "sign", "step", "exp", "log", "neg" })
            Def(name, c => c.Binder.Elementwise(name, c.Span, c.Tensor("x")), T("x"));
        Def("softmax", c => c.Binder.Unary("softmax", c.Tensor("x"), c.Span, requireRank: 1), T("x"));
        Def("flatten", Flatten, T("x"));

        foreach (var loss in new[] { "mse", "bce", "bce_logits", "perceptron" })
            Def(loss, c => c.Binder.LossMean(loss, c.Tensor("prediction"), c.Tensor("target"), c.Span),
                T("prediction"), T("target"));
        Def("cross_entropy", c => c.Binder.CrossEntropy(c.Tensor("logits"), c.Tensor("labels"), c.Span),
            T("logits"), T("labels"));
        Def("mean", c => c.Binder.Mean(c.Tensor("x"), c.Span), T("x"));
        Def("scaled_tanh", c => c.Binder.Elementwise("scaled_tanh", c.Span, c.Tensor("x")), T("x"));
        RegisterStructured();
        RegisterZoo();

        // Initializers are values: `init: he_normal`, `init: uniform(-1, 1)`.
        foreach (var name in new[] { "glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal",
                     "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "zeros", "ones" })
            Def(name, _ => new InitValue(new InitSpec(name.Replace("xavier", "glorot"))));
        Def("uniform", c => new InitValue(new InitSpec("uniform", c.Number("low"), c.Number("high"))),
            P("low", ArgKind.Number), P("high", ArgKind.Number));
        Def("normal", c => new InitValue(new InitSpec("normal", c.Number("mean"), c.Number("std"))),
            P("mean", ArgKind.Number), P("std", ArgKind.Number));
        Def("constant", c => new InitValue(new InitSpec("constant", c.Number("value"))), P("value", ArgKind.Number));
    }

    public static bool TryGet(string name, out Builtin op) => Table.TryGetValue(name, out op!);

    public static IEnumerable<string> Names => Table.Keys.OrderBy(k => k, StringComparer.Ordinal);

    private static ParamSpec T(string name) => new(name, ArgKind.Tensor);

    private static ParamSpec P(string name, ArgKind kind, Value? dflt = null) => new(name, kind, dflt);

    private static void Def(string name, Func<OpCall, Value> apply, params ParamSpec[] ps) =>
        Table.Add(name, new Builtin(name, ps, apply));

    private static Value Dense(OpCall c)
    {
        var x = c.Tensor("x");
        var units = c.Int("units");
        if (units <= 0) c.Fail(Codes.BadValue, null, $"Give dense a positive number of units, not {units}");
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"dense expects [..., features]; got {x.Shape}", "dense", "1 or more");
        var inDim = x.Shape[x.Shape.Rank - 1];
        if (!inDim.IsConstant)
            c.Fail(Codes.BadDimension, $"dense expects a constant feature axis; got {x.Shape}",
                "Give dense a constant last dimension");
        var trainable = c.Bool("trainable");
        var weight = c.Binder.Param("weight", new Shape(units, inDim.Coef), c.Init("init"), inDim.Coef, units, c.Span, trainable);
        var inputs = new List<int> { x.Id, weight.Id };
        if (c.Bool("bias"))
            inputs.Add(c.Binder.Param("bias", new Shape(units), c.Init("bias_init"), inDim.Coef, units, c.Span, trainable).Id);
        var dims = x.Shape.Dims.Take(x.Shape.Rank - 1).Concat(new[] { (Dim)units }).ToArray();
        var node = c.Binder.AddOp("linear", inputs, new Shape(dims), DType.F32, null, c.Span, "dense");
        node.Macs = (x.Shape.Numel.PerExample / inDim.Coef) * inDim.Coef * units;
        node.Connections = (x.Shape.Numel.PerExample / inDim.Coef) * units * (inDim.Coef + (c.Bool("bias") ? 1 : 0));
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }

    private static Value Flatten(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"flatten expects [N, ...]; got {x.Shape}", "flatten", "1 or more");
        var rest = x.Shape.Dims.Skip(1).Aggregate((Dim)1, (a, d) => a * d);
        var shape = new Shape(new[] { x.Shape[0], rest });
        return new TensorValue(c.Binder.AddOp("reshape", new[] { x.Id }, shape, x.DType, null, c.Span, "flatten"));
    }
}
