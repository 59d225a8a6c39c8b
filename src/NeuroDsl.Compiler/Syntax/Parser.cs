using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using Sprache;

namespace NeuroDsl.Compiler.Syntax;

/// <summary>
/// The `.nd` grammar in Sprache. Tokens consume the whitespace and <c>#</c> comments after them, so a rule's
/// start position is always its first real character and every AST node gets an exact span.
/// Newlines are not significant: a statement ends where its expression cannot continue.
/// </summary>
public sealed class Parser
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "model", "block", "input", "output", "loss", "return", "expect", "paper", "repeat", "if", "then", "else",
        "and", "or", "not", "true", "false", "cell", "scan", "within", "param",
    };

    /// <summary>How deep expressions, calls, lists and stages may nest: deeper input is ND0004, not a stack overflow.</summary>
    public const int MaxNesting = 256;

    /// <summary>
    /// The longest file the parser reads: 1 MiB, a hundred times the largest model in the repository. Sprache parses
    /// about a megabyte a second, so a 10 MB line would hold the build or the IDE for a minute; past this size the
    /// file is one ND0007 at the character where it passes the limit.
    /// </summary>
    public const int MaxFileChars = 1 << 20;

    private readonly string _file;
    private readonly string _text;
    private readonly SourceScan _scan;
    private readonly Parser<FileSyntax> _fileRule;
    private int _depth;

    private Parser(string file, string text, SourceScan scan)
    {
        _file = file;
        _text = text;
        _scan = scan;
        _fileRule = BuildGrammar();
    }

    /// <summary>
    /// Parses a whole file; a syntax error becomes one located diagnostic and a null tree. An unterminated string
    /// (ND0005) or a bracket left open at the end (ND0006) is reported where it opens, before the grammar runs;
    /// nesting past <see cref="MaxNesting"/> is ND0004 where the level too deep begins.
    /// </summary>
    public static FileSyntax? ParseFile(string file, string text, DiagnosticBag diagnostics)
    {
        if (text.Length > MaxFileChars)
        {
            diagnostics.Error(Codes.FileTooLarge, SpanOf(file, text, MaxFileChars), "split the file",
                MaxFileChars, text.Length);
            return null;
        }
        var scan = SourceScan.Run(file, text, diagnostics);
        if (diagnostics.HasErrors) return null;
        var parser = new Parser(file, text, scan);
        try
        {
            var result = parser._fileRule.TryParse(text);
            if (result.WasSuccessful) return result.Value;
            diagnostics.Error(Codes.SyntaxError, parser.SpanAt(result.Remainder), null, parser.Describe(result));
        }
        catch (TooDeepException deep)
        {
            diagnostics.Error(Codes.NestingTooDeep, parser.SpanAt(deep.At),
                "split the expression with intermediate names (y = …)", MaxNesting);
        }
        return null;
    }

    /// <summary>Abandons the parse at the first level past <see cref="MaxNesting"/>; it unwinds a bounded stack.</summary>
    private sealed class TooDeepException(IInput at) : Exception
    {
        public IInput At { get; } = at;
    }

    // Counts the rules that recurse (expression, stage) so that no input can drive Sprache's recursion past a fixed depth.
    private Parser<T> Nested<T>(Parser<T> parser) => input =>
    {
        if (_depth >= MaxNesting) throw new TooDeepException(input);
        _depth++;
        try
        {
            return parser(input);
        }
        finally
        {
            _depth--;
        }
    };

    private static SourceSpan SpanOf(string file, string text, int position)
    {
        int line = 1, lineStart = 0;
        for (var i = 0; i < position; i++)
            if (text[i] == '\n') (line, lineStart) = (line + 1, i + 1);
        return new SourceSpan(file, line, position - lineStart + 1, position, 1);
    }

    private SourceSpan SpanAt(IInput at)
    {
        var length = at.AtEnd ? 0 : 1;
        return new SourceSpan(_file, at.Line, at.Column, at.Position, length);
    }

    private string Describe(IResult<FileSyntax> result)
    {
        var at = result.Remainder;
        var token = at.AtEnd ? "" : FirstToken(at.Source, at.Position);
        var found = at.AtEnd ? "end of file" : token is "\n" or "\r" ? "end of line" : "'" + token + "'";
        var expected = result.Expectations.Where(e => !string.IsNullOrEmpty(e)).Distinct().Take(6).ToList();
        return expected.Count == 0
            ? $"Unexpected {found}"
            : $"Expect {string.Join(" or ", expected)}; found {found}";
    }

    private static string FirstToken(string text, int position)
    {
        var end = position;
        if (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_'))
            while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_') && end - position < 24) end++;
        else
            end = Math.Min(text.Length, position + 1);
        return text.Substring(position, end - position);
    }

    // Tags a successful parse with its span; trailing whitespace and comments are not part of it.
    private Parser<T> Spanned<T>(Parser<T> parser) where T : SyntaxNode => input =>
    {
        var result = parser(input);
        if (!result.WasSuccessful) return result;
        var end = result.Remainder.Position;
        end = TrimTrailing(input.Position, end);
        result.Value.Span = new SourceSpan(_file, input.Line, input.Column, input.Position, end - input.Position);
        return result;
    };

    private int TrimTrailing(int start, int end)
    {
        // Walk back over whitespace and '#' comments to the last code character. The walk covers only the trailing
        // whitespace, so spans cost no more than the text they skip, even on a 10 MB line.
        var p = end;
        while (p > start)
        {
            if (char.IsWhiteSpace(_text[p - 1])) p--;
            else if (_scan.CommentStartBefore(p) is { } comment && comment >= start) p = comment;
            else break;
        }
        return p;
    }

    private Parser<FileSyntax> BuildGrammar()
    {
        // ws = (whitespace | "#" any* eol)*
        var comment = from hash in Parse.Char('#')
                      from text in Parse.CharExcept('\n').Many()
                      select ' ';
        var ws = Parse.WhiteSpace.Or(comment).Many().Select(_ => 0);

        Parser<T> Tok<T>(Parser<T> p) => from v in p from _ in ws select v;
        // Symbols and keywords are atomic: on a mismatch they consume nothing, so `p = …` is not a failed `paper`.
        Parser<string> Sym(string s, string name) =>
            Tok(Exact(s).Then(t => s is "=" or "<" or ">" or "|"
                    ? Parse.Chars("=>").Not().Return(t)
                    : Parse.Return(t)))
                .Named(name);
        Parser<string> Kw(string k) =>
            Tok(Exact(k).Then(t => Parse.LetterOrDigit.Or(Parse.Char('_')).Not().Return(t)).Atomic())
                .Named("'" + k + "'");

        // ident = letter (letter | digit | "_")* — not a keyword
        var rawIdent = from first in Parse.Letter.Or(Parse.Char('_'))
                       from rest in Parse.LetterOrDigit.Or(Parse.Char('_')).Many().Text()
                       select first + rest;
        var ident = Spanned(Tok(rawIdent.Where(s => !Keywords.Contains(s)).Select(s => new Ident(s))))
            .Named("name");

        // number = digit (digit | "_")* ("." digit+)? (("e" | "E") ("+" | "-")? digit+)?
        var digits = from d in Parse.Digit from rest in Parse.Digit.Or(Parse.Char('_')).Many().Text() select d + rest;
        var fraction = from dot in Parse.Char('.') from f in Parse.Digit.AtLeastOnce().Text() select "." + f;
        var exponent = from e in Parse.Chars("eE")
                       from sign in Parse.Chars("+-").Optional()
                       from x in Parse.Digit.AtLeastOnce().Text()
                       select "e" + (sign.IsDefined ? sign.Get().ToString() : "") + x;
        var number = Spanned(Tok(
            from whole in digits
            from frac in fraction.Optional()
            from exp in exponent.Optional()
            select MakeNumber(whole, frac.GetOrDefault(), exp.GetOrDefault()))).Named("number");

        // string = '"' (escape | [^"\n])* '"'
        var escape = from bs in Parse.Char('\\')
                     from c in Parse.Chars("\"\\nt")
                     select c switch { 'n' => '\n', 't' => '\t', _ => c };
        var stringLit = Spanned(Tok(
            from open in Parse.Char('"')
            from chars in escape.Or(Parse.CharExcept("\"\\\n")).Many().Text()
            from close in Parse.Char('"').Named("closing '\"'")
            select (Expr)new StringExpr(chars))).Named("string");

        Parser<Expr>? exprRef = null;
        Parser<Expr>? stageRef = null;
        var expr = Parse.Ref(() => exprRef!);
        var stage = Parse.Ref(() => stageRef!);

        Parser<IReadOnlyList<T>> List<T>(Parser<T> item, string open, string close) =>
            from o in Sym(open, "'" + open + "'")
            from items in item.DelimitedBy(Sym(",", "','")).Optional()
            from c in Sym(close, "'" + close + "'")
            select (IReadOnlyList<T>)(items.IsDefined ? items.Get().ToList() : new List<T>());

        // arg = name ":" expr | expr
        var namedArg = from n in ident
                       from colon in Sym(":", "':'")
                       from v in expr
                       select new Arg(n, v);
        var arg = Spanned(namedArg.Or(expr.Select(v => new Arg(null, v))));
        var args = List(arg, "(", ")");

        // primary = number | string | true | false | name | "scan" args | "(" expr ")" | "[" exprs "]"
        var primary =
            number.Select(n => (Expr)n)
                .Or(stringLit)
                .Or(Spanned(Kw("true").Return((Expr)new BoolExpr(true))))
                .Or(Spanned(Kw("false").Return((Expr)new BoolExpr(false))))
                .Or(Spanned(ident.Select(n => (Expr)new NameExpr(n))))
                .Or(Spanned(from kw in Kw("scan") from a in args select (Expr)new ScanExpr(a)))
                .Or(from o in Sym("(", "'('") from e in expr from c in Sym(")", "')'") select e)
                .Or(Spanned(List(expr, "[", "]").Select(items => (Expr)new ListExpr(items))))
                .Named("expression");

        // index = "..." | expr? ":" expr? (":" expr?)? | expr
        var sliceColon = Sym(":", "':'");
        var ellipsis = Spanned(Sym("...", "'...'").Select(_ => (Expr)new EllipsisExpr()));
        Parser<Expr> sliceOrExpr = input =>
        {
            var start = expr.XOptional()(input);
            if (!start.WasSuccessful) return Result.Failure<Expr>(start.Remainder, start.Message, start.Expectations);
            var first = sliceColon(start.Remainder);
            if (!first.WasSuccessful)
                return start.Value.IsDefined ? Result.Success(start.Value.Get(), start.Remainder)
                    : Result.Failure<Expr>(input, "index", new[] { "index", "':'", "'...'" });
            var tail = from stop in expr.XOptional()
                       from step in (from c in sliceColon from e in expr.XOptional() select e).XOptional()
                       select (stop, step);
            var rest = tail(first.Remainder);
            if (!rest.WasSuccessful) return Result.Failure<Expr>(rest.Remainder, rest.Message, rest.Expectations);
            var (stopPart, stepPart) = rest.Value;
            var stepValue = stepPart.IsDefined ? stepPart.Get().GetOrDefault() : null;
            var slice = new SliceExpr(start.Value.GetOrDefault(), stopPart.GetOrDefault(), stepValue)
            {
                Span = new SourceSpan(_file, input.Line, input.Column, input.Position,
                    TrimTrailing(input.Position, rest.Remainder.Position) - input.Position),
            };
            return Result.Success((Expr)slice, rest.Remainder);
        };
        var index = ellipsis.Or(sliceOrExpr).Named("index");
        // A bad index is reported where it goes wrong, not as a missing ']' at the start of the index.
        var indexList = from o in Sym("[", "'['")
                        from items in index.XDelimitedBy(Sym(",", "','")).XOptional()
                        from c in Sym("]", "']'")
                        select (IReadOnlyList<Expr>)(items.IsDefined ? items.Get().ToList() : new List<Expr>());

        // postfix = primary ("(" args ")" | "." name | "[" index ("," index)* "]")*
        Parser<Func<Expr, Expr>> Suffix() =>
            args.Select(a => (Func<Expr, Expr>)(target => new CallExpr(target, a)))
                .Or(from dot in Sym(".", "'.'") from m in ident
                    select (Func<Expr, Expr>)(target => new MemberExpr(target, m)))
                .Or(indexList.Select(ix => (Func<Expr, Expr>)(target => new IndexExpr(target, ix))));
        Parser<Expr> Postfix(Parser<Expr> head) => input =>
        {
            var r = head(input);
            if (!r.WasSuccessful) return r;
            var value = r.Value;
            var rest = r.Remainder;
            var suffix = Suffix();
            while (true)
            {
                var s = suffix(rest);
                // A suffix that consumed input and then failed (an unclosed call) is an error, not an end.
                if (!s.WasSuccessful && s.Remainder.Position > rest.Position)
                    return Result.Failure<Expr>(s.Remainder, s.Message, s.Expectations);
                if (!s.WasSuccessful || s.Remainder.Equals(rest)) break;
                value = s.Value(value);
                value.Span = new SourceSpan(_file, input.Line, input.Column, input.Position,
                    TrimTrailing(input.Position, s.Remainder.Position) - input.Position);
                rest = s.Remainder;
            }
            return Result.Success(value, rest);
        };
        var postfix = Postfix(primary);

        // unary = ("-" | "not") unary | postfix — read as a loop, so a long run of signs does not recurse
        var unaryOp = Sym("-", "'-'").Or(Kw("not"));
        Parser<Expr> unary = input =>
        {
            var ops = new List<(string Op, IInput At)>();
            var rest = input;
            IResult<string> o;
            while ((o = unaryOp(rest)).WasSuccessful)
            {
                ops.Add((o.Value, rest));
                rest = o.Remainder;
            }
            var operand = postfix(rest);
            if (!operand.WasSuccessful)
                return operand.Remainder.Position == rest.Position
                    ? Result.Failure<Expr>(operand.Remainder, o.Message, o.Expectations.Union(operand.Expectations))
                    : operand;
            var value = operand.Value;
            for (var i = ops.Count - 1; i >= 0; i--)
            {
                var at = ops[i].At;
                value = new UnaryExpr(ops[i].Op, value)
                {
                    Span = new SourceSpan(_file, at.Line, at.Column, at.Position,
                        TrimTrailing(at.Position, operand.Remainder.Position) - at.Position),
                };
            }
            return Result.Success(value, operand.Remainder);
        };

        Parser<Expr> Binary(Parser<Expr> operand, params (string Text, bool Keyword)[] ops)
        {
            Parser<string> op = ops.Select(o => o.Keyword ? Kw(o.Text) : Sym(o.Text, "'" + o.Text + "'"))
                .Aggregate((a, b) => a.Or(b));
            return input =>
            {
                var left = operand(input);
                if (!left.WasSuccessful) return left;
                var value = left.Value;
                var rest = left.Remainder;
                while (true)
                {
                    var o = op(rest);
                    if (!o.WasSuccessful) break;
                    var right = operand(o.Remainder);
                    if (!right.WasSuccessful) return Result.Failure<Expr>(right.Remainder, right.Message, right.Expectations);
                    value = new BinaryExpr(o.Value, value, right.Value);
                    value.Span = new SourceSpan(_file, input.Line, input.Column, input.Position,
                        TrimTrailing(input.Position, right.Remainder.Position) - input.Position);
                    rest = right.Remainder;
                }
                return Result.Success(value, rest);
            };
        }

        // mul = unary (("*" | "/" | "@") unary)*  ;  add = mul (("+" | "-") mul)*
        var mul = Binary(unary, ("*", false), ("/", false), ("@", false));
        var add = Binary(mul, ("+", false), ("-", false));
        // cmp = add (("==" | "!=" | "<=" | ">=" | "<" | ">") add)*  ;  and/or on top
        var cmp = Binary(add, ("==", false), ("!=", false), ("<=", false), (">=", false), ("<", false), (">", false));
        var and = Binary(cmp, ("and", true));
        var or = Binary(and, ("or", true));

        // repeat = "repeat" postfix "{" stage ("|>" stage)* "}"  — a stage applied k times
        var pipeOp = Sym("|>", "'|>'");
        var stageChain = from first in stage
                         from rest in (from p in pipeOp from s in stage select s).Many()
                         select new[] { first }.Concat(rest).Aggregate((Expr)new HoleExpr(), (acc, s) => new PipeExpr(acc, s) { Span = s.Span });
        var repeat = Spanned(from kw in Kw("repeat")
                             from count in postfix
                             from open in Sym("{", "'{'")
                             from chain in stageChain
                             from close in Sym("}", "'}'")
                             select (Expr)new RepeatExpr(count, chain));
        stageRef = Nested(repeat.Or(postfix).Named("op, block or call"));

        // pipe = or ("|>" stage)*
        Parser<Expr> pipe = input =>
        {
            var head = or(input);
            if (!head.WasSuccessful) return head;
            var value = head.Value;
            var rest = head.Remainder;
            while (true)
            {
                var p = pipeOp(rest);
                if (!p.WasSuccessful) break;
                var s = stage(p.Remainder);
                if (!s.WasSuccessful) return Result.Failure<Expr>(s.Remainder, s.Message, s.Expectations);
                value = new PipeExpr(value, s.Value)
                {
                    Span = new SourceSpan(_file, input.Line, input.Column, input.Position,
                        TrimTrailing(input.Position, s.Remainder.Position) - input.Position),
                };
                rest = s.Remainder;
            }
            return Result.Success(value, rest);
        };

        // if = "if" expr "then" expr "else" expr
        var ifExpr = Spanned(from kw in Kw("if")
                             from c in expr
                             from t in Kw("then")
                             from a in expr
                             from e in Kw("else")
                             from b in expr
                             select (Expr)new IfExpr(c, a, b));
        exprRef = Nested(ifExpr.Or(pipe).Named("expression"));

        var dims = List(expr, "[", "]");

        // Statements. Each starts with a keyword or a name, so the first token decides (XOr).
        var paper = Spanned(from kw in Kw("paper")
                            from fields in arg.DelimitedBy(Sym(",", "','"))
                            select (Stmt)new PaperStmt(fields.ToList()));
        var input = Spanned(from kw in Kw("input")
                            from name in ident
                            from colon in Sym(":", "':'")
                            from dtype in ident
                            from d in dims
                            select (Stmt)new InputStmt(name, dtype, d));
        var output = Spanned(from kw in Kw("output")
                             from name in ident
                             from value in (from eq in Sym("=", "'='") from v in expr select v).XOptional()
                             select (Stmt)new LetStmt(name, value.GetOrDefault(), true));
        var loss = Spanned(from kw in Kw("loss") from v in expr select (Stmt)new LossStmt(v));
        // return = "return" expr ("," expr)* — several values return a list (a cell's next state)
        var ret = Spanned(from kw in Kw("return")
                          from v in expr
                          from more in (from c in Sym(",", "','") from e in expr select e).XMany()
                          select (Stmt)new ReturnStmt(more.Any() ? MakeList(v, more) : v));
        var expectValue = from eq in Sym("==", "'=='") from v in expr select ((Expr?)v, (IReadOnlyList<Expr>?)null, (Expr?)null);
        var expectApprox = from eq in Sym("~=", "'~='")
                           from v in expr
                           from kw in Kw("within")
                           from t in expr
                           from pct in Sym("%", "'%'")
                           select ((Expr?)v, (IReadOnlyList<Expr>?)null, (Expr?)t);
        var expectShape = from colon in Sym(":", "':'") from d in dims select ((Expr?)null, (IReadOnlyList<Expr>?)d, (Expr?)null);
        var expect = Spanned(from kw in Kw("expect")
                             from subject in ident
                             from figureArgs in args.XOptional()                       // training_flops(tokens: 300e9)
                             from rest in expectValue.Or(expectApprox).Or(expectShape)
                             select (Stmt)new ExpectStmt(subject, rest.Item1, rest.Item2, rest.Item3, figureArgs.GetOrDefault()));
        // param = "param" name ":" dtype dims ("init" ":" expr)?
        var initClause = (from kw in Kw("init") from c in Sym(":", "':'") select kw).Atomic();
        var paramStmt = Spanned(from kw in Kw("param")
                                from name in ident
                                from c in Sym(":", "':'")
                                from dtype in ident
                                from d in dims
                                from init in (from i in initClause from v in expr select v).XOptional()
                                select (Stmt)new ParamStmt(name, dtype, d, init.GetOrDefault()));
        // let = name ("," name)* "=" expr — several names take the items of a list (split's parts)
        var let = Spanned(from name in ident
                          from more in (from c in Sym(",", "','") from n in ident select n).XMany()
                          from eq in Sym("=", "'='")
                          from v in expr
                          select more.Any()
                              ? (Stmt)new UnpackStmt(new[] { name }.Concat(more).ToList(), v)
                              : new LetStmt(name, v, false));
        var statement = paper.XOr(input).XOr(output).XOr(paramStmt).XOr(loss).XOr(ret).XOr(expect).XOr(let).Named("statement");
        var body = from open in Sym("{", "'{'")
                   from stmts in statement.XMany()
                   from close in Sym("}", "'}' or a statement")
                   select (IReadOnlyList<Stmt>)stmts.ToList();

        // param = name ("=" expr)?
        var param = Spanned(from n in ident
                            from d in (from eq in Sym("=", "'='") from v in expr select v).XOptional()
                            select new ParamDecl(n, d.GetOrDefault()));
        var paramList = List(param, "(", ")").Optional()
            .Select(p => p.IsDefined ? p.Get() : (IReadOnlyList<ParamDecl>)Array.Empty<ParamDecl>());

        var model = Spanned(from kw in Kw("model")
                            from name in ident
                            from ps in paramList
                            from b in body
                            select (Decl)new ModelDecl(name, ps, b));
        var block = Spanned(from kw in Kw("block")
                            from name in ident
                            from ps in List(param, "(", ")")
                            from inputs in List(ident, "(", ")")
                            from b in body
                            select (Decl)new BlockDecl(name, ps, inputs, b));
        // cell = "cell" name "(" params ")" "(" inputs ")" body — a block run over time by scan
        var cell = Spanned(from kw in Kw("cell")
                           from name in ident
                           from ps in List(param, "(", ")")
                           from inputs in List(ident, "(", ")")
                           from b in body
                           select (Decl)new CellDecl(name, ps, inputs, b));
        var decl = model.XOr(block).XOr(cell).Named("'model', 'block' or 'cell'");

        return Spanned(from lead in ws
                       from decls in decl.XMany()
                       from end in Parse.AnyChar.Not().Named("'model', 'block', 'cell' or end of file").Return(0)
                       select new FileSyntax(decls.ToList()));
    }

    /// <summary>The list <c>a, b, c</c> after <c>return</c>, spanning its items.</summary>
    private static Expr MakeList(Expr first, IEnumerable<Expr> rest)
    {
        var items = new[] { first }.Concat(rest).ToList();
        var last = items[items.Count - 1].Span;
        return new ListExpr(items)
        {
            Span = new SourceSpan(first.Span.File, first.Span.Line, first.Span.Column, first.Span.Start,
                last.Start + last.Length - first.Span.Start),
        };
    }

    /// <summary>Matches <paramref name="text"/> exactly, or fails without consuming anything.</summary>
    private static Parser<string> Exact(string text) => input =>
    {
        var at = input;
        foreach (var c in text)
        {
            if (at.AtEnd || at.Current != c) return Result.Failure<string>(input, $"'{text}'", new[] { $"'{text}'" });
            at = at.Advance();
        }
        return Result.Success(text, at);
    };

    private static NumberExpr MakeNumber(string whole, string? fraction, string? exponent)
    {
        var text = whole + (fraction ?? "") + (exponent ?? "");
        var clean = text.Replace("_", "");
        var isInteger = fraction is null && exponent is null;
        double.TryParse(clean, NumberStyles.Float, CultureInfo.InvariantCulture, out var value);
        return new NumberExpr(text, value, isInteger);
    }
}

internal static class ParserExtensions
{
    /// <summary>Backtracks fully on failure: the failure is reported at the start, having consumed nothing.</summary>
    public static Parser<T> Atomic<T>(this Parser<T> parser) => input =>
    {
        var result = parser(input);
        return result.WasSuccessful ? result : Result.Failure<T>(input, result.Message, result.Expectations);
    };
}
