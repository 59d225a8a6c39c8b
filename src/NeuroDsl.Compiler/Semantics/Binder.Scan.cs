using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>A cell by name (<c>Params</c> null), or given its parameters: constants and the tensors its steps share.</summary>
public sealed record CellValue(CellDecl Cell, IReadOnlyDictionary<string, Value>? Params) : Value
{
    public override string KindName => "a cell";
}

/// <summary>
/// Cells and <c>scan</c>: the cell's body is bound once, into a graph of its own (the scan node's body) whose inputs
/// are this step's slice of each sequence, the state, and the tensors the cell was given (the shared weights).
/// </summary>
public sealed partial class Binder
{
    private readonly Dictionary<string, CellDecl> _cells = new(StringComparer.Ordinal);
    private readonly Dictionary<(Graph, int, Dim), Node> _lengthMasks = new();

    private const string ScanSignature = "scan(Cell(weights…), sequence…, state: sizes | init: tensors, reverse: false, "
        + "last: false, final: false, lengths: i32[N], truncate: k)";

    /// <summary><c>Cell(w, b, hidden: 20)</c>: parameters by position or name; tensors are allowed (shared by all steps).</summary>
    private CellValue BindCellParams(CellDecl cell, IReadOnlyList<Arg> args, Scope scope, SourceSpan span)
    {
        var values = new Dictionary<string, Value>(StringComparer.Ordinal);
        var positional = args.Where(a => a.Name is null).ToList();
        if (positional.Count > cell.Params.Count)
            Fail(Codes.ArgumentCount, span, CellSignature(cell), cell.Name.Text, Plural(cell.Params.Count, "parameter", atMost: true), positional.Count);
        for (var i = 0; i < positional.Count; i++) values[cell.Params[i].Name.Text] = Eval(positional[i].Value, scope);
        foreach (var arg in args.Where(a => a.Name is not null))
        {
            if (cell.Params.All(p => p.Name.Text != arg.Name!.Text))
                Fail(Codes.UnknownArgument, arg.Name!.Span, CellSignature(cell), cell.Name.Text, arg.Name.Text);
            if (values.ContainsKey(arg.Name!.Text)) Fail(Codes.ArgumentRepeated, arg.Name.Span, null, cell.Name.Text, arg.Name.Text);
            values[arg.Name.Text] = Eval(arg.Value, scope);
        }
        var defaults = new Scope(null);
        foreach (var p in cell.Params)
        {
            if (!values.TryGetValue(p.Name.Text, out var v))
            {
                if (p.Default is null) Fail(Codes.MissingArgument, span, CellSignature(cell), cell.Name.Text, p.Name.Text);
                v = RequireConstant(Eval(p.Default!, defaults), p.Name.Text, p.Default!.Span);
                values[p.Name.Text] = v;
            }
            if (v is ErrorValue) throw new ReportedException();
            defaults.Define(p.Name.Text, v);
        }
        return new CellValue(cell, values);
    }

    private static string CellSignature(CellDecl c) =>
        c.Name.Text + "(" + string.Join(", ", c.Params.Select(p => p.Name.Text)) + ")(" + string.Join(", ", c.Inputs.Select(i => i.Text)) + ")";

    /// <summary>
    /// <c>scan(Cell(w), x, state: 20)</c>: the cell once per step of the time axis (axis 1) of the sequences
    /// [N, T, F], from zero states of the given sizes (or <c>init:</c> tensors [N, H], or [H] for a learned state that
    /// starts every sequence), backwards in time with
    /// <c>reverse: true</c>. The value is every step's state [N, T, H], or with <c>last: true</c> the state after the
    /// last step [N, H] (the first step's when reversed); a cell with several states gives one per state, in order.
    /// <c>final: true</c> gives every step's states, then each state after the last step. <c>lengths: len</c>
    /// (i32 [N]) masks a padded batch as PyTorch's packed sequences do: from step len[n] on, sequence n's state is
    /// carried unchanged and its steps' values are zeros. <c>truncate: k</c> cuts the gradient carried back through the
    /// state every k steps (truncated backpropagation through time).
    /// </summary>
    private Value BindScan(ScanExpr scan, Scope scope)
    {
        var span = scan.Span;
        var positional = scan.Args.Where(a => a.Name is null).ToList();
        if (scan.Args.TakeWhile(a => a.Name is null).Count() != positional.Count)
            Fail(Codes.SyntaxError, span, null, "Put positional arguments before named ones");
        if (positional.Count == 0) Fail(Codes.MissingArgument, span, ScanSignature, "scan", "cell");
        var first = Eval(positional[0].Value, scope);
        var cell = first switch
        {
            CellValue { Params: null } c => BindCellParams(c.Cell, Array.Empty<Arg>(), scope, positional[0].Span),
            CellValue c => c,
            _ => Fail<CellValue>(Codes.WrongKind, positional[0].Span, ScanSignature, "scan", "a cell", first.KindName),
        };
        var decl = cell.Cell;

        var seqs = new List<Node>();
        foreach (var arg in positional.Skip(1))
        {
            var x = RequireTensor(Eval(arg.Value, scope), "scan", arg.Span);
            RequireFloat("scan", arg.Span, x);
            if (x.Shape.Rank != 3)
                Fail(Codes.RankMismatch, arg.Span, $"scan runs over sequences [N, T, features]; got {x.Shape}", "scan", "3");
            if (seqs.Count > 0 && (x.Shape[0] != seqs[0].Shape[0] || x.Shape[1] != seqs[0].Shape[1]))
                Fail(Codes.ShapeMismatch, arg.Span,
                    $"scan's sequences share the batch and time axes; got {seqs[0].Shape} and {x.Shape}", "scan");
            seqs.Add(x);
        }
        if (seqs.Count == 0) Fail(Codes.MissingArgument, span, ScanSignature, "scan", "a sequence");
        var (batch, steps) = (seqs[0].Shape[0], seqs[0].Shape[1]);

        var named = new Dictionary<string, (Value Value, SourceSpan Span)>(StringComparer.Ordinal);
        foreach (var arg in scan.Args.Where(a => a.Name is not null))
        {
            if (arg.Name!.Text is not ("state" or "init" or "reverse" or "last" or "final" or "lengths" or "truncate"))
                Fail(Codes.UnknownArgument, arg.Name.Span, ScanSignature, "scan", arg.Name.Text);
            if (named.ContainsKey(arg.Name.Text)) Fail(Codes.ArgumentRepeated, arg.Name.Span, null, "scan", arg.Name.Text);
            named[arg.Name.Text] = (Eval(arg.Value, scope), arg.Value.Span);
        }
        var reverse = named.TryGetValue("reverse", out var rev)
            && (rev.Value as BoolValue ?? Fail<BoolValue>(Codes.WrongKind, rev.Span, ScanSignature, "reverse", "true or false", rev.Value.KindName)).Flag;
        var last = named.TryGetValue("last", out var lst)
            && (lst.Value as BoolValue ?? Fail<BoolValue>(Codes.WrongKind, lst.Span, ScanSignature, "last", "true or false", lst.Value.KindName)).Flag;
        var truncate = 0L;
        if (named.TryGetValue("truncate", out var trunc))
        {
            truncate = RequireInt(trunc.Value, "truncate", trunc.Span);
            if (truncate <= 0)
                Fail(Codes.BadValue, trunc.Span, null, $"Truncate after a positive number of steps, not {truncate}");
        }
        Node? mask = null;
        if (named.TryGetValue("lengths", out var lengths))
        {
            var len = RequireTensor(lengths.Value, "lengths", lengths.Span);
            if (len.DType != DType.I32 || len.Shape.Rank != 1 || len.Shape[0] != batch)
                Fail(Codes.ShapeMismatch, lengths.Span, "lengths are one i32 per sequence, "
                    + $"i32[{batch}]; got {len.DType.ToString().ToLowerInvariant()}{len.Shape}", "scan");
            // One mask per lengths tensor and sequence length, shared by the scans that read it (the layers, the directions).
            var key = (_graph, len.Id, steps);
            if (!_lengthMasks.TryGetValue(key, out mask))
                mask = _lengthMasks[key] = AddOp(Ops.Scan.LengthMask, new[] { len.Id }, new Shape(new[] { batch, steps, (Dim)1 }),
                    DType.F32, null, lengths.Span, "length_mask");
        }
        var final = named.TryGetValue("final", out var fin)
            && (fin.Value as BoolValue
                ?? Fail<BoolValue>(Codes.WrongKind, fin.Span, ScanSignature, "final", "true or false", fin.Value.KindName)).Flag;
        if (last && final)
            Fail(Codes.BadValue, fin.Span, null,
                "Ask for the last state only (last: true) or every step and the last (final: true), not both");
        if (named.ContainsKey("state") == named.ContainsKey("init"))
            Fail(Codes.MissingArgument, span,
                "give the sizes of zero initial states (state: 256) or the initial states themselves (init: h0), not both",
                "scan", "state");
        var sizes = new List<long>();
        var inits = new List<Node>();
        if (named.TryGetValue("state", out var state))
        {
            var items = state.Value is ListValue sl ? sl.Items : new[] { state.Value };
            foreach (var item in items)
            {
                var size = RequireInt(item, "state", state.Span);
                if (size <= 0) Fail(Codes.BadValue, state.Span, null, $"Give each state a positive size, not {size}");
                sizes.Add(size);
            }
        }
        else
        {
            var (value, at) = named["init"];
            var items = value is ListValue il ? il.Items : new[] { value };
            foreach (var item in items)
            {
                var h0 = RequireTensor(item, "init", at);
                RequireFloat("scan", at, h0);
                // A learned initial state [hidden] (a parameter) starts every sequence of the batch.
                if (h0.Shape.Rank == 1 && h0.Shape[0].IsConstant)
                    h0 = AddOp(Ops.Broadcasting.Expand, new[] { h0.Id }, new Shape(new[] { batch, h0.Shape[0] }), DType.F32, null, at);
                if (h0.Shape.Rank != 2 || h0.Shape[0] != batch || !h0.Shape[1].IsConstant)
                    Fail(Codes.ShapeMismatch, at, $"an initial state is [{batch}, hidden] or [hidden] with a constant hidden size; got {h0.Shape}", "scan");
                sizes.Add(h0.Shape[1].Coef);
                inits.Add(h0);
            }
        }
        var k = seqs.Count;
        var m = sizes.Count;
        if (decl.Inputs.Count != k + m)
            Fail(Codes.ArgumentCount, span,
                $"cell {CellSignature(decl)} takes this step of each sequence, then its state: {k} sequence(s) and {m} state(s) here",
                decl.Name.Text, Plural(decl.Inputs.Count, "input", atMost: false), k + m);

        // The mask is one more sequence after the cell's own, read by the cell's body but not by its statements.
        if (mask is not null) seqs.Add(mask);
        var (body, shared) = BindCellBody(cell, seqs.Select(s => s.Shape[2]).ToList(), sizes, batch, span, mask is not null);
        k = seqs.Count;

        var zero = inits.Count == 0 ? Const(0.0, span) : null;
        var inputs = seqs.Select(s => s.Id)
            .Concat(inits.Count > 0 ? inits.Select(i => i.Id) : Enumerable.Repeat(zero!.Id, m))
            .Concat(shared.Select(s => s.Id)).ToArray();
        var width = sizes.Sum();
        var node = AddOp(Ops.Scan.Forward, inputs, new Shape(new[] { batch, steps, (Dim)width }), DType.F32,
            Ops.Scan.Attrs(k, sizes.ToArray(), reverse, truncate), span, "scan");
        node.Body = body;
        node.Macs = body.MacsPerExample * steps.Coef;
        // Masked steps' values are zeros; the trajectory itself keeps the carried states (the backward pass reads them).
        var visible = mask is null ? node
            : ((TensorValue)Elementwise(Ops.Selection.Where, span, mask, node, Const(0.0, span))).Node;
        if (m == 1 && !last && !final) return new TensorValue(visible);

        // Several states: each one's steps, a slice of the last axis; with last: true, each one after the last step;
        // with final: true, both (as PyTorch's output, (h_n, c_n)).
        var parts = new List<Value>();
        var finals = new List<Value>();
        var offset = 0L;
        foreach (var size in sizes)
        {
            if (last || final)
            {
                var at = new Dictionary<string, object> { ["offset"] = offset, ["size"] = size, ["reverse"] = reverse };
                (last ? parts : finals).Add(new TensorValue(AddOp(Ops.Scan.Last, new[] { node.Id },
                    new Shape(new[] { batch, (Dim)size }), DType.F32, at, span, "scan_last")));
                if (last)
                {
                    offset += size;
                    continue;
                }
            }
            if (m == 1)
            {
                parts.Add(new TensorValue(visible));
                continue;
            }
            var attrs = new Dictionary<string, object> { ["begin"] = new[] { 0L, 0L, offset }, ["step"] = new[] { 1L, 1L, 1L } };
            parts.Add(new TensorValue(AddOp(Ops.Slicing.StridedSlice, new[] { visible.Id },
                new Shape(new[] { batch, steps, (Dim)size }), DType.F32, attrs, span, "slice")));
            offset += size;
        }
        parts.AddRange(finals);
        return parts.Count == 1 ? parts[0] : new ListValue(parts);
    }

    /// <summary>Binds a cell's statements once into a graph of its own; returns it and the outer tensors it shares.</summary>
    private (Graph Body, List<Node> Shared) BindCellBody(CellValue cell, IReadOnlyList<Dim> features, IReadOnlyList<long> sizes,
        Dim batch, SourceSpan span, bool masked = false)
    {
        var decl = cell.Cell;
        if (_blockStack.Contains(decl.Name.Text))
            Fail(Codes.RecursiveBlock, span, "a cell runs one step; run scans one after another instead", decl.Name.Text);
        var outer = _graph;
        var body = new Graph();
        var shared = new List<Node>();
        var scope = new Scope(null);
        FlushPendingParams(null);
        var instance = new Frame();
        _frames.Peek().AddChild(instance);
        _frames.Push(instance);
        _blockStack.Push(decl.Name.Text);
        _graph = body;
        try
        {
            var k = features.Count - (masked ? 1 : 0);
            for (var j = 0; j < k; j++)
                scope.Define(decl.Inputs[j].Text, new TensorValue(BodyInput(body, new Shape(new[] { batch, features[j] }), decl.Inputs[j])));
            var mask = masked ? BodyInput(body, new Shape(new[] { batch, (Dim)1 }), new Ident("mask") { Span = span }) : null;
            var states = new List<Node>();
            for (var i = 0; i < sizes.Count; i++)
            {
                states.Add(BodyInput(body, new Shape(new[] { batch, (Dim)sizes[i] }), decl.Inputs[k + i]));
                scope.Define(decl.Inputs[k + i].Text, new TensorValue(states[i]));
            }
            foreach (var p in decl.Params)
            {
                var value = cell.Params![p.Name.Text];
                if (value is TensorValue t)
                {
                    shared.Add(t.Node);
                    value = new TensorValue(BodyInput(body, t.Node.Shape, p.Name, t.Node.DType));
                }
                scope.Define(p.Name.Text, value);
            }

            Value? result = null;
            var at = decl.Name.Span;
            foreach (var stmt in decl.Body)
            {
                if (stmt is ReturnStmt ret)
                {
                    at = ret.Value.Span;
                    result = RunStatement("", () => Eval(ret.Value, scope));
                    break;
                }
                BindStatement(stmt, scope, isModel: false);
            }
            if (result is null) Fail(Codes.MissingReturn, decl.Name.Span, $"called at {span}; a cell returns its next state", decl.Name.Text);
            var items = result is ListValue list ? list.Items : new[] { result! };
            if (items.Count != sizes.Count)
                Fail(Codes.BadValue, at, $"the scan at {span} carries {sizes.Count} state(s)",
                    $"Return the next state from cell '{decl.Name.Text}': {sizes.Count} value(s), one per state input");
            for (var i = 0; i < sizes.Count; i++)
            {
                var next = RequireTensor(items[i], decl.Inputs[k + i].Text, at);
                var expected = new Shape(new[] { batch, (Dim)sizes[i] });
                if (!next.Shape.Equals(expected) || next.DType != DType.F32)
                    Fail(Codes.ShapeMismatch, at,
                        $"the next '{decl.Inputs[k + i].Text}' has shape {next.Shape}; the state is {expected}", decl.Name.Text);
                // Past a sequence's length the state is carried unchanged: where(mask, next, state).
                if (mask is not null) next = ((TensorValue)Elementwise(Ops.Selection.Where, at, mask, next, states[i])).Node;
                body.Outputs.Add(new KeyValuePair<string, int>(decl.Inputs[k + i].Text, next.Id));
            }
            if (body.ParamIds.Count > 0 || _pendingParams.Count > 0)
                Fail(Codes.BadStatement, decl.Name.Span, "every step shares the cell's weights",
                    $"Declare the weights in the model and pass them to the cell: {decl.Name.Text}(weight, …)");
            if (body.Nodes.Any(n => n.Body is not null))
                Fail(Codes.BadStatement, decl.Name.Span, null, "Run scans one after another, not inside a cell");
        }
        finally
        {
            _pendingParams.Clear();
            _graph = outer;
            _blockStack.Pop();
            _frames.Pop();
            instance.Close("", null);
        }
        return (body, shared);
    }

    private static Node BodyInput(Graph body, Shape shape, Ident name, DType dtype = DType.F32)
    {
        var node = body.Add(NodeKind.Input, Ops.Leaves.Input, Array.Empty<int>(), shape, dtype, null, name.Span);
        node.Name = name.Text;
        body.InputIds.Add(node.Id);
        return node;
    }
}
