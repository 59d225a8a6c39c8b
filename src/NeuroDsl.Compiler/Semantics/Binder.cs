using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>
/// Elaborates a parsed file into typed graphs: evaluates constants, inlines blocks and repeats, checks
/// every op's arguments and shapes, names layers and parameters, and checks the <c>expect</c> lines.
/// One statement that fails is reported and skipped, so a file yields all its independent errors.
/// </summary>
public sealed partial class Binder
{
    private readonly Dictionary<string, BlockDecl> _blocks = new(StringComparer.Ordinal);
    private readonly Stack<string> _blockStack = new();
    private readonly Stack<Frame> _frames = new();
    private readonly Stack<Value> _holes = new();
    private readonly List<string> _symbols = new();
    private List<(Node Param, string BaseName)> _pendingParams = new();
    private Graph _graph = new();
    private ComputeReport? _compute; // what the model's training_flops and optimal_tokens expect lines ask the summary for
    private readonly List<ExpectCheck> _expectChecks = new(); // the expect lines that held, for ModelIr.Expects

    private Binder(DiagnosticBag diagnostics) => Diagnostics = diagnostics;

    internal DiagnosticBag Diagnostics { get; }

    /// <summary>Binds every model of a file. Blocks are shared by all models of the file.</summary>
    public static IReadOnlyList<ModelIr> Bind(FileSyntax file, DiagnosticBag diagnostics)
    {
        var binder = new Binder(diagnostics);
        var models = new List<ModelIr>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var decl in file.Decls)
        {
            if (!names.Add(decl.Name.Text))
            {
                diagnostics.Error(Codes.Duplicate, decl.Name.Span, null, decl.Name.Text);
                continue;
            }
            if (decl is BlockDecl block) binder._blocks[block.Name.Text] = block;
            if (decl is CellDecl cell) binder._cells[cell.Name.Text] = cell;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in file.Decls.OfType<ModelDecl>())
        {
            if (!seen.Add(model.Name.Text)) continue;
            var ir = binder.BindModel(model);
            if (ir is not null) models.Add(ir);
        }
        if (file.Decls.Count == 0)
            diagnostics.Error(Codes.EmptyFile, file.Span, "a file holds 'model' and 'block' declarations");
        return models;
    }

    private ModelIr? BindModel(ModelDecl model)
    {
        _graph = new Graph();
        _tooLarge = false;
        _symbols.Clear();
        var errorsBefore = Diagnostics.Items.Count(d => d.IsError);
        CheckGeneratedName(model.Name, "model");
        var scope = new Scope(null);
        foreach (var p in model.Params)
        {
            if (p.Default is null)
            {
                Diagnostics.Error(Codes.MissingArgument, p.Span, "a model is compiled with its defaults", model.Name.Text, p.Name.Text + " = <default>");
                continue;
            }
            TryStatement(() => scope.Define(p.Name.Text, RequireConstant(Eval(p.Default, scope), p.Name.Text, p.Default.Span)));
        }

        var paper = new PaperInfo(null, null, null);
        var expects = new List<ExpectStmt>();
        foreach (var stmt in model.Body)
        {
            if (_tooLarge) break;
            switch (stmt)
            {
                case PaperStmt p:
                    TryStatement(() => paper = BindPaper(p));
                    break;
                case ExpectStmt e:
                    expects.Add(e);
                    break;
                case ReturnStmt r:
                    Diagnostics.Error(Codes.BadStatement, r.Span, "a model names its results with 'output'",
                        "Use 'output name = …' in a model; 'return' belongs in a block");
                    break;
                default:
                    if (!TryStatement(() => BindStatement(stmt, scope, isModel: true)))
                        PoisonName(stmt, scope);
                    break;
            }
        }
        if (_graph.Outputs.Count == 0 && Diagnostics.Items.Count(d => d.IsError) == errorsBefore)
            Diagnostics.Error(Codes.NoOutput, model.Name.Span, null, model.Name.Text);

        // The expect lines sum the counts, so they run only when the counts fit in 64 bits; a statement that already
        // failed (an op whose own sizes overflowed) is not reported twice.
        _compute = null;
        _expectChecks.Clear();
        if (Diagnostics.Items.Count(d => d.IsError) == errorsBefore && CountsFit())
            foreach (var e in expects) TryStatement(() => CheckExpect(e, scope));
        foreach (var p in _graph.Params) p.Param = p.Param! with { Name = p.Name };
        DisambiguateParamNames();

        if (Diagnostics.Items.Count(d => d.IsError) > errorsBefore) return null;
        var symbols = _symbols.OrderBy(s => s == "N" ? 0 : 1).ToList();
        return new ModelIr(model.Name.Text, paper, _graph, symbols, model.Span) { Compute = _compute, Expects = _expectChecks.ToList() };
    }

    private static bool TryStatement(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (ReportedException)
        {
            // Already reported; go on with the next statement.
            return false;
        }
    }

    /// <summary>After a failed definition, later uses of its name fail without a second report.</summary>
    private static void PoisonName(Stmt stmt, Scope scope)
    {
        var names = stmt switch
        {
            InputStmt i => new[] { i.Name },
            LetStmt { Value: not null } l => new[] { l.Name },
            UnpackStmt u => u.Names,
            ParamStmt p => new[] { p.Name },
            _ => Array.Empty<Ident>(),
        };
        foreach (var name in names)
            if (scope.LookupLocal(name.Text) is null) scope.Define(name.Text, new ErrorValue());
    }

    private PaperInfo BindPaper(PaperStmt stmt)
    {
        string? title = null, authors = null;
        long? year = null;
        foreach (var field in stmt.Fields)
        {
            var value = Eval(field.Value, new Scope(null));
            switch (field.Name?.Text)
            {
                case "title": title = RequireString(value, "title", field.Span); break;
                case "authors": authors = RequireString(value, "authors", field.Span); break;
                case "year": year = RequireInt(value, "year", field.Span); break;
                default:
                    Fail(Codes.UnknownArgument, field.Span, "paper takes title:, authors: and year:", "paper", field.Name?.Text ?? "(positional)");
                    break;
            }
        }
        return new PaperInfo(title, authors, year);
    }

    private void BindStatement(Stmt stmt, Scope scope, bool isModel)
    {
        switch (stmt)
        {
            case InputStmt input when isModel:
                BindInput(input, scope);
                break;
            case LetStmt let:
                BindLet(let, scope, isModel);
                break;
            case UnpackStmt unpack:
                BindUnpack(unpack, scope);
                break;
            case ParamStmt param:
                BindParam(param, scope);
                break;
            case LossStmt loss when isModel:
            {
                var value = RunStatement("loss", () => Eval(loss.Value, scope));
                var node = RequireTensor(value, "loss", loss.Value.Span);
                if (_graph.LossId is not null) Fail(Codes.TwoLosses, loss.Span, null);
                if (node.Shape.Rank != 0) Fail(Codes.LossNotScalar, loss.Value.Span, $"the loss has shape {node.Shape}");
                _graph.LossId = node.Id;
                break;
            }
            default:
                var keyword = stmt switch { InputStmt => "input", LossStmt => "loss", ExpectStmt => "expect", PaperStmt => "paper", _ => "this statement" };
                Fail(Codes.BadStatement, stmt.Span, "blocks compute values; the model declares inputs, losses and checks",
                    $"Move '{keyword}' into the model; a block may only define values and 'return'");
                break;
        }
    }

    private void BindInput(InputStmt input, Scope scope)
    {
        var dtype = input.DType.Text switch
        {
            "f32" => DType.F32,
            "i32" => DType.I32,
            _ => Fail<DType>(Codes.DTypeMismatch, input.DType.Span, "inputs are f32 or i32", input.Name.Text, "f32 or i32", input.DType.Text),
        };
        var dims = input.Dims.Select(d => EvalDim(d, scope)).ToArray();
        if (scope.Lookup(input.Name.Text) is not null) Fail(Codes.Duplicate, input.Name.Span, null, input.Name.Text);
        var node = _graph.Add(NodeKind.Input, Ops.Leaves.Input, Array.Empty<int>(), new Shape(dims), dtype, null, input.Span);
        node.Name = input.Name.Text;
        _graph.InputIds.Add(node.Id);
        CheckGeneratedName(input.Name, "input");
        scope.Define(input.Name.Text, new TensorValue(node));
    }

    private void BindLet(LetStmt let, Scope scope, bool isModel)
    {
        Value value;
        if (let.Value is null)
        {
            value = scope.Lookup(let.Name.Text) ?? Fail<Value>(Codes.UnknownName, let.Name.Span, null, let.Name.Text);
        }
        else
        {
            if (scope.LookupLocal(let.Name.Text) is not null) Fail(Codes.Duplicate, let.Name.Span, null, let.Name.Text);
            value = RunStatement(let.Name.Text, () => Eval(let.Value, scope));
            scope.Define(let.Name.Text, value);
        }
        if (!let.IsOutput) return;
        if (!isModel) Fail(Codes.BadStatement, let.Span, null, "Use 'output' in the model; a block returns its value");
        var node = RequireTensor(value, let.Name.Text, let.Span);
        if (_graph.Outputs.Any(o => o.Key == let.Name.Text)) Fail(Codes.Duplicate, let.Name.Span, "already an output", let.Name.Text);
        CheckGeneratedName(let.Name, "output");
        _graph.Outputs.Add(new KeyValuePair<string, int>(let.Name.Text, node.Id));
    }

    /// <summary>Runs one statement in its own naming frame, then names what it created.</summary>
    private Value RunStatement(string name, Func<Value> body) => RunStatement(name, body, null);

    /// <summary>As above; the items of a list value take <paramref name="itemNames"/> (<c>a, b = split(…)</c>).</summary>
    private Value RunStatement(string name, Func<Value> body, IReadOnlyList<string>? itemNames)
    {
        var frame = new Frame();
        _frames.Push(frame);
        Value value;
        try
        {
            value = body();
            FlushPendingParams(null);
        }
        finally
        {
            _frames.Pop();
        }
        var finals = new Dictionary<Node, string>();
        if (value is TensorValue t) finals[t.Node] = name;
        if (value is ListValue list && itemNames is not null)
            for (var i = 0; i < list.Items.Count && i < itemNames.Count; i++)
                if (list.Items[i] is TensorValue item && !finals.ContainsKey(item.Node)) finals[item.Node] = itemNames[i];
        frame.CloseNamed(name, finals);
        if (_frames.Count > 0) _frames.Peek().Named.AddRange(frame.All);
        return value;
    }

    private void CheckExpect(ExpectStmt e, Scope scope)
    {
        if (e.Args is not null && e.Subject.Text is not "training_flops")
            Fail(Codes.ExpectUnknown, e.Args.Count > 0 ? e.Args[0].Span : e.Subject.Span, "only training_flops(tokens: D) takes arguments",
                $"Remove the arguments: '{e.Subject.Text}' takes none");
        if (e.Subject.Text is "training_flops" or "optimal_tokens")
        {
            CheckComputeExpect(e, scope);
            return;
        }
        if (e.Dims is not null)
        {
            var value = scope.Lookup(e.Subject.Text) ?? Fail<Value>(Codes.UnknownName, e.Subject.Span, null, e.Subject.Text);
            if (value is ErrorValue) return; // its definition failed and was reported there
            var node = RequireTensor(value, e.Subject.Text, e.Subject.Span);
            var expected = new Shape(e.Dims.Select(d => EvalDim(d, scope)).ToArray());
            if (!expected.Equals(node.Shape))
                Fail(Codes.ExpectShape, e.Span, $"expected {expected}, computed {node.Shape}", e.Subject.Text, expected, node.Shape);
            _expectChecks.Add(new ExpectCheck(e.Span.Line, e.Subject.Text, expected.ToString(), node.Shape.ToString()));
            return;
        }
        var figure = Eval(e.Value!, scope);
        var within = WithinPercent(e, scope);
        var number = within is null ? RequireInt(figure, e.Subject.Text, e.Value!.Span)
            : figure is NumberValue { Number: > 0 } n ? n.Number : Fail<double>(Codes.BadValue, e.Value!.Span, null, "Give '~=' a positive figure");
        // A paper's rounded figure ("60 million parameters") holds within the stated percentage.
        bool Holds(long computed) => within is { } w ? Math.Abs(computed - number) <= number * w / 100 : computed == number;
        string Expected() => within is { } w ? $"{number:N0} ± {w}%" : $"{number:N0}";
        string Off(long computed) => within is null ? "" : $" ({(computed - number) / number * 100:+0.0;-0.0}%)";
        object Figure() => within is null ? (long)number : Expected();
        switch (e.Subject.Text)
        {
            case "params":
                var count = _graph.TrainableParameterCount;
                if (!Holds(count))
                    Fail(Codes.ExpectParams, e.Span, $"expected {Expected()}, computed {count:N0}{Off(count)}{ParamBreakdown()}", Figure(), count);
                _expectChecks.Add(new ExpectCheck(e.Span.Line, "params", Expected(), $"{count:N0}{Off(count)}"));
                break;
            case "flops":
                var macs = _graph.MacsPerExample;
                if (!Holds(macs))
                    Fail(Codes.ExpectFlops, e.Span, $"expected {Expected()}, computed {macs:N0}{Off(macs)} (multiply-adds per example)", Figure(), macs);
                _expectChecks.Add(new ExpectCheck(e.Span.Line, "flops", Expected(), $"{macs:N0}{Off(macs)}"));
                break;
            case "connections":
                var connections = _graph.ConnectionsPerExample;
                if (!Holds(connections))
                    Fail(Codes.ExpectConnections, e.Span, $"expected {Expected()}, computed {connections:N0}{Off(connections)} (inputs and biases feeding each unit, summed)", Figure(), connections);
                _expectChecks.Add(new ExpectCheck(e.Span.Line, "connections", Expected(), $"{connections:N0}{Off(connections)}"));
                break;
            default:
                Fail(Codes.ExpectUnknown, e.Subject.Span,
                    "known: params == N, params ~= N within P%, flops …, connections …, training_flops(tokens: D) …, optimal_tokens …, name: [dims]",
                    $"Expect 'params', 'flops', 'connections', 'training_flops', 'optimal_tokens' or a value's shape, not '{e.Subject.Text}'");
                break;
        }
    }

    private double? WithinPercent(ExpectStmt e, Scope scope) =>
        e.WithinPercent is null ? null
            : Eval(e.WithinPercent, scope) is NumberValue { Number: >= 0 and < 100 } pct ? pct.Number
            : Fail<double>(Codes.BadValue, e.WithinPercent.Span, null, "Give 'within' a percentage from 0 to 100");

    /// <summary>
    /// <c>expect training_flops(tokens: D) ~= F within P%</c> (6·N·D) and <c>expect optimal_tokens ~= D within P%</c> (20·N):
    /// figures too large for 64 bits, compared as doubles; the summary then reports them (<see cref="ModelIr.Compute"/>).
    /// </summary>
    private void CheckComputeExpect(ExpectStmt e, Scope scope)
    {
        if (e.Value is null)
            Fail(Codes.ExpectUnknown, e.Subject.Span, "a figure takes '== F' or '~= F within P%', not a shape",
                $"Give '{e.Subject.Text}' a figure ('~= F within P%'), not a shape");
        double? tokens = null;
        if (e.Subject.Text == "training_flops")
        {
            var subject = e.Subject.Text + "(tokens: D)";
            foreach (var a in e.Args ?? Array.Empty<Arg>())
            {
                if (a.Name is not null && a.Name.Text != "tokens")
                    Fail(Codes.UnknownArgument, a.Name.Span, null, "training_flops", a.Name.Text);
                if (tokens is not null)
                    Fail(Codes.ArgumentRepeated, a.Span, null, "training_flops", "tokens");
                tokens = Eval(a.Value, scope) is NumberValue { Number: > 0 } d && !double.IsInfinity(d.Number) ? d.Number
                    : Fail<double>(Codes.BadValue, a.Value.Span, null, $"Give {subject} a positive token count");
            }
            if (tokens is null)
                Fail(Codes.MissingArgument, e.Subject.Span, "the training compute is 6 · parameters · tokens", subject, "tokens");
        }
        var within = WithinPercent(e, scope);
        var number = Eval(e.Value!, scope) is NumberValue { Number: > 0 } n && !double.IsInfinity(n.Number) ? n.Number
            : Fail<double>(Codes.BadValue, e.Value!.Span, null, $"Give '{e.Subject.Text}' a positive figure");
        var parameters = _graph.TrainableParameterCount;
        _compute ??= new ComputeReport(new List<double>());
        if (tokens is { } t && !_compute.Tokens.Contains(t)) ((List<double>)_compute.Tokens).Add(t);
        var computed = tokens is { } d2 ? TrainingCompute.Flops(parameters, d2) : TrainingCompute.OptimalTokens(parameters);
        var holds = within is { } w ? Math.Abs(computed - number) <= number * w / 100 : computed == number;
        var expected = within is { } w2 ? $"{TrainingCompute.Figure(number)} ± {w2}%" : $"{TrainingCompute.Figure(number)}";
        var off = $" ({(computed - number) / number * 100:+0.0;-0.0}%)";
        if (holds)
        {
            _expectChecks.Add(new ExpectCheck(e.Span.Line, tokens is null ? e.Subject.Text : e.Subject.Text + "(tokens)", expected,
                TrainingCompute.Figure(computed) + off));
            return;
        }
        if (tokens is { } d3)
            Fail(Codes.ExpectTrainingFlops, e.Span,
                $"expected {expected}, computed 6 · {parameters:N0} parameters · {TrainingCompute.Figure(d3)} tokens = {TrainingCompute.Figure(computed)}{off}",
                expected, $"{TrainingCompute.Figure(computed)}", $"{TrainingCompute.Figure(d3)}");
        else
            Fail(Codes.ExpectOptimalTokens, e.Span,
                $"expected {expected}, computed 20 · {parameters:N0} parameters = {TrainingCompute.Figure(computed)}{off}", expected, $"{TrainingCompute.Figure(computed)}");
    }

    private string ParamBreakdown() =>
        "; " + string.Join(", ", _graph.Params.Select(p => $"{p.Name} {p.Shape.Numel.PerExample}"));

    private void DisambiguateParamNames()
    {
        foreach (var group in _graph.Params.GroupBy(p => p.Name).Where(g => g.Count() > 1))
            foreach (var p in group.Skip(1))
            {
                p.Name += "_" + p.Id.ToString(CultureInfo.InvariantCulture);
                p.Param = p.Param! with { Name = p.Name };
            }
    }

    private static readonly HashSet<string> CSharpKeywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof",
        "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof", "uint",
        "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    };

    /// <summary>Names that become C# identifiers must not be keywords or clash with the generated members.</summary>
    private void CheckGeneratedName(Ident name, string what)
    {
        if (CSharpKeywords.Contains(name.Text) || name.Text.StartsWith("__", StringComparison.Ordinal)
            || (what == "model" && ReservedTypeNames.Contains(name.Text))
            || (what != "model" && ReservedMemberNames.Contains(name.Text)))
            Diagnostics.Error(Codes.ReservedName, name.Span, $"a {what} name becomes a C# identifier", name.Text);
    }

    private static readonly HashSet<string> ReservedMemberNames = new(StringComparer.Ordinal)
    {
        "optimizer", "device", "seed", "Forward", "Backward", "Step", "TrainStep", "Spec",
    };

    private static readonly HashSet<string> ReservedTypeNames = new(StringComparer.Ordinal)
    {
        "CompiledModel", "Device", "Optimizer", "System", "NeuroDsl", "Object", "String",
    };

    // ---- Error helpers ------------------------------------------------------------------------

    internal void Fail(DiagnosticCode code, SourceSpan span, string? note, params object[] args)
    {
        Diagnostics.Error(code, span, note, args);
        throw new ReportedException();
    }

    internal T Fail<T>(DiagnosticCode code, SourceSpan span, string? note, params object[] args)
    {
        Fail(code, span, note, args);
        return default!;
    }

    /// <summary>
    /// The model's per-example totals — elements and bytes of every value, parameters, multiply-adds, connections —
    /// in checked 64-bit sums, so that the summary, the expect lines and the planner never see a wrapped count. The
    /// first node that takes a total past 2^63 (bytes counted at 8 per element, the widest element type) is reported.
    /// </summary>
    private bool CountsFit()
    {
        long bytes = 0, macs = 0, connections = 0;
        foreach (var node in _graph.Nodes)
        {
            try
            {
                bytes = checked(bytes + node.Shape.Numel.PerExample * 8);
                macs = checked(macs + node.Macs);
                connections = checked(connections + node.Connections);
            }
            catch (OverflowException)
            {
                Diagnostics.Error(Codes.SizeOverflow, node.Span,
                    "the model's bytes, multiply-adds or connections per example pass 2^63 here",
                    node.Layer ?? node.Name);
                return false;
            }
        }
        return true;
    }
}

