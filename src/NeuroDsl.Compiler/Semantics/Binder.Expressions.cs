using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

public sealed partial class Binder
{
    private static readonly string[] Operators = { "+", "-", "*", "/", "@" };

    // How deep Eval is nested: blocks inside blocks, postfix chains and unary runs all count; operator and pipe
    // chains are folded in a loop and do not. Past the parser's limit the statement fails with ND0004.
    private int _depth;

    private Value Eval(Expr expr, Scope scope)
    {
        if (_depth >= Parser.MaxNesting)
            Fail(Codes.NestingTooDeep, expr.Span, "name an intermediate value (y = …) or flatten the blocks",
                Parser.MaxNesting);
        _depth++;
        try
        {
            return EvalNested(expr, scope);
        }
        catch (OverflowException)
        {
            // A size, count or constant past 64 bits (checked arithmetic): reported at the innermost expression.
            return Fail<Value>(Codes.SizeOverflow, expr.Span, "a size, element count or multiply-add count passes 2^63",
                Excerpt(expr));
        }
        finally
        {
            _depth--;
        }
    }

    private Value EvalNested(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case NumberExpr n:
                if (n.IsInteger && (n.Value > long.MaxValue || !long.TryParse(n.Text.Replace("_", ""), out _)))
                    Fail(Codes.BadNumber, n.Span, null, n.Text);
                return new NumberValue(n.Value, n.IsInteger);
            case StringExpr s:
                return new StringValue(s.Value);
            case BoolExpr b:
                return new BoolValue(b.Value);
            case NameExpr name:
                return Resolve(name.Name, scope);
            case ListExpr list:
                return new ListValue(list.Items.Select(i => Eval(i, scope)).ToList());
            case HoleExpr:
                return _holes.Peek();
            case UnaryExpr u:
                return EvalUnary(u, Eval(u.Operand, scope));
            case BinaryExpr b:
            {
                // a + b + c + … is a left-deep tree as long as the chain: fold it in a loop, left to right.
                var chain = new Stack<BinaryExpr>();
                Expr head = b;
                for (; head is BinaryExpr link; head = link.Left) chain.Push(link);
                var value = Eval(head, scope);
                while (chain.Count > 0)
                {
                    var link = chain.Pop();
                    value = EvalBinary(link, value, Eval(link.Right, scope));
                }
                return value;
            }
            case IfExpr i:
                var condition = Eval(i.Condition, scope);
                if (condition is not BoolValue flag)
                    return Fail<Value>(Codes.NotConstant, i.Condition.Span, $"got {condition.KindName}", "if");
                return Eval(flag.Flag ? i.Then : i.Else, scope);
            case CallExpr call:
                return EvalCall(call, scope, piped: null);
            case PipeExpr pipe:
            {
                // x |> a |> b |> … likewise: evaluate the head, then apply the stages in order.
                var stages = new Stack<PipeExpr>();
                Expr head = pipe;
                for (; head is PipeExpr link; head = link.Value) stages.Push(link);
                var value = Eval(head, scope);
                while (stages.Count > 0) value = ApplyStage(stages.Pop().Stage, value, scope);
                return value;
            }
            case MemberExpr member:
                return EvalMember(member, Eval(member.Target, scope));
            case IndexExpr index:
                return EvalIndex(index, scope);
            case ScanExpr scan:
                return BindScan(scan, scope);
            case RepeatExpr repeat:
                return Fail<Value>(Codes.BadStatement, repeat.Span, "repeat is a pipe stage", "Write 'x |> repeat k { … }'");
            default:
                return Fail<Value>(Codes.Internal, expr.Span, null, "unhandled expression " + expr.GetType().Name);
        }
    }

    private Value Resolve(Ident name, Scope scope)
    {
        var value = scope.Lookup(name.Text);
        if (value is ErrorValue) throw new ReportedException();
        if (value is not null) return value;
        if (_blocks.TryGetValue(name.Text, out var block)) return new CallableValue(name.Text, block, null);
        if (_cells.TryGetValue(name.Text, out var cell)) return new CellValue(cell, null);
        if (Builtins.TryGet(name.Text, out var op)) return new CallableValue(name.Text, null, op);
        // A size symbol (N, T) is fixed only when the model is instantiated: it has no value to compute with here.
        if (_symbols.Contains(name.Text))
            return Fail<Value>(Codes.NotConstant, name.Span,
                $"{name.Text} is a size symbol, fixed when the model is instantiated; give a number here", name.Text);
        return Fail<Value>(Codes.UnknownName, name.Span, NearestName(name.Text, scope), name.Text);
    }

    /// <summary>A name in call position: an unknown one is an unknown op (ND0102), not an unknown value.</summary>
    private Value ResolveCallee(Ident name, Scope scope)
    {
        if (scope.Lookup(name.Text) is null && !_blocks.ContainsKey(name.Text) && !_cells.ContainsKey(name.Text)
            && !Builtins.TryGet(name.Text, out _))
            Fail(Codes.UnknownOp, name.Span, NearestName(name.Text, scope) ?? "ops: " + string.Join(", ", Builtins.Names), name.Text);
        return Resolve(name, scope);
    }

    private string? NearestName(string name, Scope scope)
    {
        var candidates = Builtins.Names.Concat(_blocks.Keys);
        var best = candidates.Select(c => (c, d: Distance(c, name))).OrderBy(x => x.d).FirstOrDefault();
        return best.c is not null && best.d <= 2 ? $"did you mean '{best.c}'?" : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    private Value EvalUnary(UnaryExpr u, Value operand)
    {
        switch (u.Op, operand)
        {
            case ("-", NumberValue n): return new NumberValue(-n.Number, n.IsInteger);
            case ("-", TensorValue t): return Elementwise(Ops.Arithmetic.Neg, u.Span, t.Node);
            case ("not", BoolValue b): return new BoolValue(!b.Flag);
            case ("not", TensorValue t): return Elementwise(Ops.Comparisons.LogicalNot, u.Span, t.Node);
            default: return Fail<Value>(Codes.WrongKind, u.Span, null, u.Op, u.Op == "not" ? "a boolean" : "a number or tensor", operand.KindName);
        }
    }

    private Value EvalBinary(BinaryExpr b, Value left, Value right)
    {
        if (left is NumberValue l && right is NumberValue r)
        {
            var ints = l.IsInteger && r.IsInteger;
            return b.Op switch
            {
                "+" => new NumberValue(l.Number + r.Number, ints),
                "-" => new NumberValue(l.Number - r.Number, ints),
                "*" => new NumberValue(l.Number * r.Number, ints),
                "/" => ints && r.Number != 0 && l.Number % r.Number == 0
                    ? new NumberValue(l.Number / r.Number, true)
                    : new NumberValue(l.Number / r.Number, false),
                "==" => new BoolValue(l.Number == r.Number),
                "!=" => new BoolValue(l.Number != r.Number),
                "<" => new BoolValue(l.Number < r.Number),
                ">" => new BoolValue(l.Number > r.Number),
                "<=" => new BoolValue(l.Number <= r.Number),
                ">=" => new BoolValue(l.Number >= r.Number),
                _ => Fail<Value>(Codes.WrongKind, b.Span, null, b.Op, "tensors", "numbers"),
            };
        }
        if (left is BoolValue bl && right is BoolValue br)
        {
            return b.Op switch
            {
                "and" => new BoolValue(bl.Flag && br.Flag),
                "or" => new BoolValue(bl.Flag || br.Flag),
                "==" => new BoolValue(bl.Flag == br.Flag),
                "!=" => new BoolValue(bl.Flag != br.Flag),
                _ => Fail<Value>(Codes.WrongKind, b.Span, null, b.Op, "numbers or tensors", "booleans"),
            };
        }
        // On tensors, comparisons and and/or make f32 masks of 0 and 1.
        if ((left is TensorValue || right is TensorValue) && Ops.Comparisons.ForOperator(b.Op) is { } mask)
            return Elementwise(mask, b.Span, AsTensor(left, b.Left.Span), AsTensor(right, b.Right.Span));
        if (!Operators.Contains(b.Op) || (left is not TensorValue && right is not TensorValue))
            return Fail<Value>(Codes.WrongKind, b.Span, $"'{b.Op}' got {left.KindName} and {right.KindName}", b.Op,
                "matching operands", left.KindName + " and " + right.KindName);
        var a = AsTensor(left, b.Left.Span);
        var c = AsTensor(right, b.Right.Span);
        if (b.Op == "@") return MatMul(a, c, b.Span);
        var op = b.Op switch { "+" => Ops.Arithmetic.Add, "-" => Ops.Arithmetic.Sub, "*" => Ops.Arithmetic.Mul, _ => Ops.Arithmetic.Div };
        return Elementwise(op, b.Span, a, c);
    }

    private Node AsTensor(Value value, SourceSpan span) => value switch
    {
        TensorValue t => t.Node,
        NumberValue n => Const(n.Number, span),
        _ => Fail<Node>(Codes.WrongKind, span, null, "operand", "a tensor or number", value.KindName),
    };

    private Value EvalMember(MemberExpr m, Value target)
    {
        var node = RequireTensor(target, m.Member.Text, m.Target.Span);
        var shape = node.Shape;
        Value DimValue(int axis) => shape.Rank > axis && axis >= 0 && shape[axis].IsConstant
            ? new NumberValue(shape[axis].Coef, true)
            : Fail<Value>(Codes.NotConstant, m.Span, $"{node.Name} has shape {shape}", m.Member.Text);
        return m.Member.Text switch
        {
            "rank" => new NumberValue(shape.Rank, true),
            "shape" => new ListValue(shape.Dims.Select(d => d.IsConstant ? (Value)new NumberValue(d.Coef, true) : new StringValue(d.ToString())).ToList()),
            "channels" => DimValue(1),
            "features" => DimValue(shape.Rank - 1),
            _ => Fail<Value>(Codes.UnknownName, m.Member.Span, "tensors have rank, shape, channels and features", m.Member.Text),
        };
    }

    private Value EvalIndex(IndexExpr index, Scope scope)
    {
        var target = Eval(index.Target, scope);
        if (target is TensorValue tensor) return IndexTensor(index, tensor.Node, scope);
        if (target is not ListValue list || index.Indices.Count != 1 || index.Indices[0] is SliceExpr or EllipsisExpr)
            return Fail<Value>(Codes.WrongKind, index.Span, "indexing takes a list and one constant index", "[]", "a list", target.KindName);
        var i = RequireInt(Eval(index.Indices[0], scope), "index", index.Indices[0].Span);
        if (i < 0) i += list.Items.Count;
        if (i < 0 || i >= list.Items.Count)
            Fail(Codes.BadValue, index.Span, $"the list has {list.Items.Count} items", "Use an index within the list");
        var item = list.Items[(int)i];
        return item is StringValue s ? Fail<Value>(Codes.NotConstant, index.Span, $"dimension {s.Text} is symbolic", "shape") : item;
    }

    // ---- Calls, pipes, blocks -------------------------------------------------------------------

    /// <summary><c>value |> stage</c>: the piped value becomes the stage's first tensor argument.</summary>
    private Value ApplyStage(Expr stage, Value piped, Scope scope)
    {
        switch (stage)
        {
            case NameExpr name:
                return Invoke(ResolveCallee(name.Name, scope), Array.Empty<Arg>(), piped, scope, stage.Span);
            case CallExpr call:
                return EvalCall(call, scope, piped);
            case ScanExpr scan:
                return BindScan(scan, scope);
            case RepeatExpr repeat:
                return Repeat(repeat, piped, scope);
            case PipeExpr inner:
            {
                // A repeat's chain of stages: applied in a loop, as in Eval.
                var stages = new Stack<PipeExpr>();
                Expr head = inner;
                for (; head is PipeExpr link; head = link.Value) stages.Push(link);
                var value = ApplyStage(head, piped, scope);
                while (stages.Count > 0) value = ApplyStage(stages.Pop().Stage, value, scope);
                return value;
            }
            case HoleExpr:
                return piped;
            default:
                return Fail<Value>(Codes.WrongKind, stage.Span, "a stage is an op, a block or a call such as dense(84)",
                    "|>", "an op or block", "an expression");
        }
    }

    private Value EvalCall(CallExpr call, Scope scope, Value? piped)
    {
        var callee = call.Callee is NameExpr name ? ResolveCallee(name.Name, scope) : Eval(call.Callee, scope);
        return Invoke(callee, call.Args, piped, scope, call.Span);
    }

    private Value Invoke(Value callee, IReadOnlyList<Arg> args, Value? piped, Scope scope, SourceSpan span)
    {
        switch (callee)
        {
            case CallableValue { Op: { } op }:
                return CallBuiltin(op, args, piped, scope, span);
            case CallableValue { Block: { } block }:
            {
                // `Block(64)` binds parameters; `x |> Block(64)` also expands it with x as the input.
                var bound = BindBlockParams(block, args, scope, span);
                return piped is null ? bound : ExpandBlock(bound, new[] { piped }, span);
            }
            case CellValue { Params: null } cell when piped is null:
                return BindCellParams(cell.Cell, args, scope, span);
            case BoundBlockValue bound:
            {
                var inputs = new List<Value>();
                if (piped is not null) inputs.Add(piped);
                inputs.AddRange(args.Select(a => a.Name is null
                    ? Eval(a.Value, scope)
                    : Fail<Value>(Codes.UnknownArgument, a.Span, "block inputs are positional", bound.Block.Name.Text, a.Name.Text)));
                return ExpandBlock(bound, inputs, span);
            }
            default:
                return Fail<Value>(Codes.WrongKind, span, "only ops and blocks can be called", "call", "an op or block", callee.KindName);
        }
    }

    private Value CallBuiltin(Builtin op, IReadOnlyList<Arg> args, Value? piped, Scope scope, SourceSpan span)
    {
        var positional = new List<(Value Value, SourceSpan Span)>();
        if (piped is not null) positional.Add((piped, span));
        var named = new List<(string Name, Value Value, SourceSpan Span)>();
        foreach (var arg in args)
        {
            var value = Eval(arg.Value, scope);
            if (arg.Name is null)
            {
                if (named.Count > 0) Fail(Codes.SyntaxError, arg.Span, null, "Put positional arguments before named ones");
                positional.Add((value, arg.Span));
            }
            else named.Add((arg.Name.Text, value, arg.Name.Span));
        }
        if (positional.Count > op.Params.Count)
            Fail(Codes.ArgumentCount, span, Signature(op), op.Name, Plural(op.Params.Count, "argument", atMost: true), positional.Count);

        var bound = new Dictionary<string, Value>(StringComparer.Ordinal);
        var where = new Dictionary<string, SourceSpan>(StringComparer.Ordinal);
        for (var i = 0; i < positional.Count; i++)
        {
            bound[op.Params[i].Name] = positional[i].Value;
            where[op.Params[i].Name] = positional[i].Span;
        }
        foreach (var (name, value, at) in named)
        {
            if (op.Params.All(p => p.Name != name)) Fail(Codes.UnknownArgument, at, Signature(op), op.Name, name);
            if (bound.ContainsKey(name)) Fail(Codes.ArgumentRepeated, at, Signature(op), op.Name, name);
            bound[name] = value;
            where[name] = at;
        }
        foreach (var p in op.Params)
        {
            if (!bound.TryGetValue(p.Name, out var value))
            {
                if (p.Default is null) Fail(Codes.MissingArgument, span, Signature(op), op.Name, p.Name);
                bound[p.Name] = p.Default!;
                continue;
            }
            if (value is NoneValue) continue;
            bound[p.Name] = Coerce(op, p, value, where[p.Name]);
        }
        try
        {
            return op.Apply(new OpCall(this, op, span, bound, where));
        }
        catch (OverflowException)
        {
            return Fail<Value>(Codes.SizeOverflow, span, "its output size, parameter count or multiply-adds pass 2^63",
                op.Name);
        }
    }

    private Value Coerce(Builtin op, ParamSpec p, Value value, SourceSpan span)
    {
        switch (p.Kind)
        {
            case ArgKind.Tensor:
                return value is TensorValue ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "a tensor", value.KindName);
            case ArgKind.Int:
                if (value is TensorValue) Fail(Codes.NotConstant, span, $"got a tensor; {Signature(op)}", p.Name);
                return value is NumberValue { IsInteger: true } ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "an integer", value.KindName);
            case ArgKind.Number:
                if (value is TensorValue) Fail(Codes.NotConstant, span, $"got a tensor; {Signature(op)}", p.Name);
                return value is NumberValue ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "a number", value.KindName);
            case ArgKind.Bool:
                if (value is TensorValue) Fail(Codes.NotConstant, span, $"got a tensor; {Signature(op)}", p.Name);
                return value is BoolValue ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "true or false", value.KindName);
            case ArgKind.Init:
                if (value is CallableValue { Op: { } init } && init.Required == 0 && init.Params.Count == 0)
                    value = init.Apply(new OpCall(this, init, span, new Dictionary<string, Value>()));
                return value is InitValue ? value
                    : Fail<Value>(Codes.WrongKind, span, "initializers: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, zeros, ones, uniform(a, b), normal(mean, std), constant(v)",
                        p.Name, "an initializer", value.KindName);
            case ArgKind.Ints:
                if (value is TensorValue) Fail(Codes.NotConstant, span, $"got a tensor; {Signature(op)}", p.Name);
                if (value is NumberValue { IsInteger: true } || (value is ListValue l && l.Items.All(i => i is NumberValue { IsInteger: true })))
                    return value;
                return Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "an integer or a list of integers", value.KindName);
            case ArgKind.Operand:
                return value is TensorValue or NumberValue ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "a tensor or a number", value.KindName);
            case ArgKind.TensorList:
                return value is ListValue tl && tl.Items.All(i => i is TensorValue) && tl.Items.Count > 0 ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "a list of tensors", value.KindName);
            case ArgKind.Table:
                return value is ListValue t && t.Items.All(r => r is ListValue row && row.Items.All(i => i is NumberValue { IsInteger: true })) ? value
                    : Fail<Value>(Codes.WrongKind, span, "a table lists, for each output map, the input maps it reads: [[0, 1, 2], [1, 2, 3], …]", p.Name, "a list of lists of integers", value.KindName);
            default:
                return value is StringValue ? value
                    : Fail<Value>(Codes.WrongKind, span, Signature(op), p.Name, "a string", value.KindName);
        }
    }

    private static string Signature(Builtin op) =>
        op.Name + "(" + string.Join(", ", op.Params.Select(p => p.Default is null ? p.Name : p.Name + ": " + DefaultText(p.Default))) + ")";

    private static string DefaultText(Value v) => v switch
    {
        NoneValue => "none",
        BoolValue b => b.Flag ? "true" : "false",
        InitValue i => i.Spec.ToString(),
        NumberValue n => n.ToString(),
        _ => "…",
    };

    private static string Plural(int n, string word, bool atMost) =>
        (atMost ? "at most " : "") + n + " " + word + (n == 1 ? "" : "s");

    private BoundBlockValue BindBlockParams(BlockDecl block, IReadOnlyList<Arg> args, Scope scope, SourceSpan span)
    {
        var values = new Dictionary<string, Value>(StringComparer.Ordinal);
        var positional = args.Where(a => a.Name is null).ToList();
        if (positional.Count > block.Params.Count)
            Fail(Codes.ArgumentCount, span, BlockSignature(block), block.Name.Text, Plural(block.Params.Count, "parameter", atMost: true), positional.Count);
        for (var i = 0; i < positional.Count; i++)
            values[block.Params[i].Name.Text] = RequireConstant(Eval(positional[i].Value, scope), block.Params[i].Name.Text, positional[i].Span);
        foreach (var arg in args.Where(a => a.Name is not null))
        {
            if (block.Params.All(p => p.Name.Text != arg.Name!.Text))
                Fail(Codes.UnknownArgument, arg.Name!.Span, BlockSignature(block), block.Name.Text, arg.Name.Text);
            if (values.ContainsKey(arg.Name!.Text)) Fail(Codes.ArgumentRepeated, arg.Name.Span, null, block.Name.Text, arg.Name.Text);
            values[arg.Name.Text] = RequireConstant(Eval(arg.Value, scope), arg.Name.Text, arg.Span);
        }
        // Defaults are evaluated in the block's own scope, after the parameters before them.
        var defaults = new Scope(null);
        foreach (var p in block.Params)
        {
            if (!values.TryGetValue(p.Name.Text, out var v))
            {
                if (p.Default is null) Fail(Codes.MissingArgument, span, BlockSignature(block), block.Name.Text, p.Name.Text);
                v = RequireConstant(Eval(p.Default!, defaults), p.Name.Text, p.Default!.Span);
                values[p.Name.Text] = v;
            }
            defaults.Define(p.Name.Text, v);
        }
        return new BoundBlockValue(block, values);
    }

    private static string BlockSignature(BlockDecl b) =>
        b.Name.Text + "(" + string.Join(", ", b.Params.Select(p => p.Name.Text)) + ")(" + string.Join(", ", b.Inputs.Select(i => i.Text)) + ")";

    private Value ExpandBlock(BoundBlockValue bound, IReadOnlyList<Value> inputs, SourceSpan span)
    {
        var block = bound.Block;
        if (_blockStack.Contains(block.Name.Text))
            Fail(Codes.RecursiveBlock, span, "call chain: " + string.Join(" -> ", _blockStack.Reverse().Concat(new[] { block.Name.Text })), block.Name.Text);
        if (inputs.Count != block.Inputs.Count)
            Fail(Codes.ArgumentCount, span, BlockSignature(block), block.Name.Text, Plural(block.Inputs.Count, "input", atMost: false), inputs.Count);

        var scope = new Scope(null);
        foreach (var kv in bound.Params) scope.Define(kv.Key, kv.Value);
        for (var i = 0; i < inputs.Count; i++) scope.Define(block.Inputs[i].Text, inputs[i]);

        FlushPendingParams(null);
        var instance = new Frame();
        _frames.Peek().AddChild(instance);
        _frames.Push(instance);
        _blockStack.Push(block.Name.Text);
        try
        {
            Value? result = null;
            foreach (var stmt in block.Body)
            {
                if (stmt is ReturnStmt ret)
                {
                    result = RunStatement("", () => Eval(ret.Value, scope));
                    break;
                }
                BindStatement(stmt, scope, isModel: false);
            }
            return result ?? Fail<Value>(Codes.MissingReturn, block.Name.Span, $"called at {span}", block.Name.Text);
        }
        finally
        {
            _blockStack.Pop();
            _frames.Pop();
            instance.Close("", null);
        }
    }

    /// <summary><c>x |> repeat k { stages }</c>: k copies of the stages, each with its own parameters.</summary>
    private Value Repeat(RepeatExpr repeat, Value piped, Scope scope)
    {
        var count = RequireInt(Eval(repeat.Count, scope), "repeat", repeat.Count.Span);
        if (count < 0 || count > 10_000) Fail(Codes.BadValue, repeat.Count.Span, null, "Repeat between 0 and 10000 times");
        var value = piped;
        for (var i = 0; i < count; i++)
        {
            var iteration = new Frame();
            _frames.Peek().AddChild(iteration);
            _frames.Push(iteration);
            try
            {
                value = ApplyStage(repeat.Body, value, scope);
                FlushPendingParams(null);
            }
            finally
            {
                _frames.Pop();
            }
            iteration.Close("", value is TensorValue t ? t.Node : null);
        }
        return value;
    }

    // ---- Constants ------------------------------------------------------------------------------

    private Value RequireConstant(Value value, string what, SourceSpan span) =>
        value is NumberValue or BoolValue or StringValue or InitValue or ListValue ? value
            : Fail<Value>(Codes.NotConstant, span, $"got {value.KindName}", what);

    private long RequireInt(Value value, string what, SourceSpan span)
    {
        if (value is TensorValue) Fail(Codes.NotConstant, span, "got a tensor", what);
        if (value is not NumberValue { IsInteger: true } n)
            return Fail<long>(Codes.WrongKind, span, null, what, "an integer", value.KindName);
        // 2^63 itself is the first double past long.MaxValue.
        if (!(n.Number >= long.MinValue && n.Number < 9223372036854775808.0))
            Fail(Codes.BadNumber, span, $"{what} is {n.Number.ToString("R", CultureInfo.InvariantCulture)}",
                n.Number.ToString("R", CultureInfo.InvariantCulture));
        return (long)n.Number;
    }

    private string RequireString(Value value, string what, SourceSpan span) =>
        value is StringValue s ? s.Text : Fail<string>(Codes.WrongKind, span, null, what, "a string", value.KindName);

    private Node RequireTensor(Value value, string what, SourceSpan span) =>
        value is TensorValue t ? t.Node : Fail<Node>(Codes.WrongKind, span, null, what, "a tensor", value.KindName);

    /// <summary>A dimension: a positive constant, or a size symbol written in capitals (N, T, B).</summary>
    private Dim EvalDim(Expr expr, Scope scope)
    {
        if (expr is NameExpr name && scope.Lookup(name.Name.Text) is null && IsSymbolName(name.Name.Text))
        {
            if (!_symbols.Contains(name.Name.Text)) _symbols.Add(name.Name.Text);
            return Dim.Symbol(name.Name.Text);
        }
        if (expr is BinaryExpr { Op: "*" })
        {
            // N * 4 * 4 * … folded in a loop, left to right.
            var factors = new Stack<BinaryExpr>();
            var head = expr;
            for (; head is BinaryExpr { Op: "*" } link; head = link.Left) factors.Push(link);
            var dim = EvalDim(head, scope);
            while (factors.Count > 0)
            {
                var factor = factors.Pop();
                var next = EvalDim(factor.Right, scope);
                try
                {
                    dim = dim * next;
                }
                catch (OverflowException)
                {
                    Fail(Codes.SizeOverflow, factor.Span, "the dimension passes 2^63", "dimension");
                }
            }
            return dim;
        }
        var value = Eval(expr, scope);
        var n = RequireInt(value, "dimension", expr.Span);
        if (n <= 0) Fail(Codes.BadDimension, expr.Span, null, $"Use a positive dimension, not {n}");
        return n;
    }

    private static bool IsSymbolName(string name) =>
        name.Length <= 8 && name.All(c => char.IsUpper(c) || char.IsDigit(c) || c == '_') && char.IsUpper(name[0]);

    /// <summary>A short name for an expression in a message: the op it calls or the name it reads.</summary>
    private static string Excerpt(Expr expr) => expr switch
    {
        CallExpr { Callee: NameExpr name } => name.Name.Text,
        NameExpr name => name.Name.Text,
        _ => "this expression",
    };
}
