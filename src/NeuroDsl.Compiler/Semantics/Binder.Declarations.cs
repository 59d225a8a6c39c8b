using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Statements that define several names (<c>a, b = split(…)</c>) or a parameter (<c>param U: f32[4, 4]</c>).</summary>
public sealed partial class Binder
{
    private static readonly InitSpec DefaultParamInit = new("glorot_uniform");

    /// <summary><c>i, f, g, o = split(z, 4)</c>: each name takes one item of the list value, in order.</summary>
    private void BindUnpack(UnpackStmt unpack, Scope scope)
    {
        var names = unpack.Names;
        for (var i = 0; i < names.Count; i++)
            if (scope.LookupLocal(names[i].Text) is not null || names.Take(i).Any(n => n.Text == names[i].Text))
                Fail(Codes.Duplicate, names[i].Span, null, names[i].Text);
        var first = names[0].Span;
        var last = names[names.Count - 1].Span;
        var namesSpan = new SourceSpan(first.File, first.Line, first.Column, first.Start, last.End - first.Start);
        // Ops the right side creates besides the items are named after all the names: i_f_g_o.0.
        var group = string.Join("_", names.Select(n => n.Text));
        var value = RunStatement(group, () =>
        {
            var v = Eval(unpack.Value, scope);
            if (v is not ListValue list)
                return Fail<Value>(Codes.WrongKind, unpack.Value.Span, $"{names.Count} names take the items of a list, such as split's parts",
                    string.Join(", ", names.Select(n => n.Text)), "a list", v.KindName);
            if (list.Items.Count != names.Count)
                Fail(Codes.BadValue, namesSpan, $"the right side gives {list.Items.Count} values",
                    $"Name {list.Items.Count} values here, not {names.Count}");
            return v;
        }, names.Select(n => n.Text).ToList());
        var items = ((ListValue)value).Items;
        for (var i = 0; i < names.Count; i++) scope.Define(names[i].Text, items[i]);
    }

    /// <summary>
    /// <c>param U: f32[16, 16] init: glorot_uniform</c>: a trainable tensor of constant shape, named like a layer's
    /// parameters (a block instance's prefix, then the name), with a summary row of its own.
    /// </summary>
    private void BindParam(ParamStmt stmt, Scope scope)
    {
        if (scope.LookupLocal(stmt.Name.Text) is not null) Fail(Codes.Duplicate, stmt.Name.Span, null, stmt.Name.Text);
        if (stmt.DType.Text != "f32")
            Fail(Codes.DTypeMismatch, stmt.DType.Span, "parameters are f32", stmt.Name.Text, "f32", stmt.DType.Text);
        var dims = stmt.Dims.Select(d => (Expr: d, Dim: EvalDim(d, scope))).ToList();
        foreach (var (expr, dim) in dims)
            if (!dim.IsConstant)
                Fail(Codes.BadDimension, expr.Span, $"'{dim}' is a size symbol", "Give a parameter constant dimensions");
        var shape = new Shape(dims.Select(d => d.Dim).ToArray());
        var init = DefaultParamInit;
        if (stmt.Init is not null)
        {
            var value = Eval(stmt.Init, scope);
            if (value is CallableValue { Op: { } op } && op.Required == 0 && op.Params.Count == 0)
                value = op.Apply(new OpCall(this, op, stmt.Init.Span, new Dictionary<string, Value>()));
            init = value is InitValue given ? given.Spec
                : Fail<InitSpec>(Codes.WrongKind, stmt.Init.Span, "initializers: glorot_uniform, he_normal, zeros, ones, uniform(a, b), normal(mean, std), constant(v), …",
                    "init", "an initializer", value.KindName);
        }
        // Fans as torch computes them for a weight [out, in, k…]: in·k… and out·k… (a vector: its length).
        var sizes = shape.Dims.Select(d => d.Coef).ToArray();
        var receptive = sizes.Skip(2).Aggregate(1L, (a, b) => a * b);
        var fanIn = sizes.Length switch { 0 => 1, 1 => sizes[0], _ => sizes[1] * receptive };
        var fanOut = sizes.Length switch { 0 => 1, 1 => sizes[0], _ => sizes[0] * receptive };

        var node = _graph.Add(NodeKind.Param, Ops.Leaves.Param, Array.Empty<int>(), shape, DType.F32, null, stmt.Span);
        node.Param = new ParamInfo(stmt.Name.Text, init, fanIn, fanOut, true);
        node.Owner = node.Id; // its own summary row, not a row of the first layer that reads it
        node.Name = stmt.Name.Text;
        _graph.ParamIds.Add(node.Id);
        // In a block the instance's frame prefixes the name (enc.0.U); in a model it is final.
        if (_frames.Count > 0) _frames.Peek().Named.Add(node);
        scope.Define(stmt.Name.Text, new TensorValue(node));
    }
}
