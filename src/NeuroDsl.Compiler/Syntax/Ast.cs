using System.Collections.Generic;
using NeuroDsl.Compiler.Diagnostics;

namespace NeuroDsl.Compiler.Syntax;

/// <summary>Every syntax node carries the span it was parsed from; the parser sets it once.</summary>
public abstract record SyntaxNode
{
    public SourceSpan Span { get; internal set; }
}

/// <summary>An identifier with its own span, so errors can point at the name itself.</summary>
public sealed record Ident(string Text) : SyntaxNode;

public sealed record FileSyntax(IReadOnlyList<Decl> Decls) : SyntaxNode;

// ---- Declarations ----------------------------------------------------------------------------

public abstract record Decl(Ident Name, IReadOnlyList<ParamDecl> Params, IReadOnlyList<Stmt> Body) : SyntaxNode;

/// <summary><c>model Name(p = 1) { … }</c></summary>
public sealed record ModelDecl(Ident Name, IReadOnlyList<ParamDecl> Params, IReadOnlyList<Stmt> Body)
    : Decl(Name, Params, Body);

/// <summary><c>block Name(p = 1)(x, y) { … return e }</c></summary>
public sealed record BlockDecl(Ident Name, IReadOnlyList<ParamDecl> Params, IReadOnlyList<Ident> Inputs,
    IReadOnlyList<Stmt> Body) : Decl(Name, Params, Body);

/// <summary>
/// <c>cell Name(weights)(x, h, c) { … return h2, c2 }</c>: one step of a recurrence. Its parameters may be tensors (the
/// weights every step shares); its inputs are this step's slices of the sequences, then the state, which it returns
/// updated. Run over time by <c>scan</c>.
/// </summary>
public sealed record CellDecl(Ident Name, IReadOnlyList<ParamDecl> Params, IReadOnlyList<Ident> Inputs,
    IReadOnlyList<Stmt> Body) : Decl(Name, Params, Body);

public sealed record ParamDecl(Ident Name, Expr? Default) : SyntaxNode;

// ---- Statements ------------------------------------------------------------------------------

public abstract record Stmt : SyntaxNode;

/// <summary><c>paper title: "…", authors: "…", year: 1998</c></summary>
public sealed record PaperStmt(IReadOnlyList<Arg> Fields) : Stmt;

/// <summary><c>input image: f32[N, 1, 32, 32]</c></summary>
public sealed record InputStmt(Ident Name, Ident DType, IReadOnlyList<Expr> Dims) : Stmt;

/// <summary><c>name = expr</c>, or <c>output name = expr</c>, or <c>output name</c> for an existing value.</summary>
public sealed record LetStmt(Ident Name, Expr? Value, bool IsOutput) : Stmt;

/// <summary><c>i, f, g, o = split(z, 4)</c>: one name per item of a list value, in order.</summary>
public sealed record UnpackStmt(IReadOnlyList<Ident> Names, Expr Value) : Stmt;

/// <summary><c>param cls: f32[1, 1, 64] init: zeros</c>: a trainable tensor used by name (no initializer: glorot_uniform).</summary>
public sealed record ParamStmt(Ident Name, Ident DType, IReadOnlyList<Expr> Dims, Expr? Init) : Stmt;

/// <summary><c>loss expr</c></summary>
public sealed record LossStmt(Expr Value) : Stmt;

/// <summary><c>return expr</c> (blocks only)</summary>
public sealed record ReturnStmt(Expr Value) : Stmt;

/// <summary>
/// <c>expect params == N</c>, <c>expect params ~= N within P %</c> (a paper's rounded figure), <c>expect x: [dims]</c>
/// or a figure that takes arguments, <c>expect training_flops(tokens: 300e9) ~= 3.14e23 within 2%</c>
/// (<see cref="Args"/> is null without parentheses).
/// </summary>
public sealed record ExpectStmt(Ident Subject, Expr? Value, IReadOnlyList<Expr>? Dims, Expr? WithinPercent = null,
    IReadOnlyList<Arg>? Args = null) : Stmt;

// ---- Expressions -----------------------------------------------------------------------------

public abstract record Expr : SyntaxNode;

public sealed record NumberExpr(string Text, double Value, bool IsInteger) : Expr;

public sealed record StringExpr(string Value) : Expr;

public sealed record BoolExpr(bool Value) : Expr;

public sealed record NameExpr(Ident Name) : Expr;

/// <summary><c>callee(args)</c>; the callee is a name or another call (<c>Block(64)(x)</c>).</summary>
public sealed record CallExpr(Expr Callee, IReadOnlyList<Arg> Args) : Expr;

/// <summary><c>value |> stage</c>: the value becomes the stage's first tensor argument.</summary>
public sealed record PipeExpr(Expr Value, Expr Stage) : Expr;

public sealed record BinaryExpr(string Op, Expr Left, Expr Right) : Expr;

public sealed record UnaryExpr(string Op, Expr Operand) : Expr;

/// <summary><c>x.channels</c> (shape queries and, later, fields).</summary>
public sealed record MemberExpr(Expr Target, Ident Member) : Expr;

/// <summary><c>x.shape[2]</c> (a list item), <c>x[:, t]</c>, <c>x[..., 0:64]</c> (a tensor slice).</summary>
public sealed record IndexExpr(Expr Target, IReadOnlyList<Expr> Indices) : Expr;

/// <summary><c>start:stop:step</c> inside an index, each part optional (<c>:</c>, <c>1:-1</c>, <c>::2</c>).</summary>
public sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step) : Expr;

/// <summary><c>...</c> inside an index: as many whole axes as the other indices leave.</summary>
public sealed record EllipsisExpr : Expr;

public sealed record ListExpr(IReadOnlyList<Expr> Items) : Expr;

/// <summary><c>if c then a else b</c>, decided on constants at elaboration time.</summary>
public sealed record IfExpr(Expr Condition, Expr Then, Expr Else) : Expr;

/// <summary><c>repeat k { stage |> stage }</c>: a pipe stage applying its body k times.</summary>
public sealed record RepeatExpr(Expr Count, Expr Body) : Expr;

/// <summary><c>scan(Cell(w), xs, state: 20, init: h0, reverse: true)</c>: a cell run over the time axis.</summary>
public sealed record ScanExpr(IReadOnlyList<Arg> Args) : Expr;

/// <summary>A placeholder for the piped value inside a stage body (the implicit argument).</summary>
public sealed record HoleExpr : Expr;

public sealed record Arg(Ident? Name, Expr Value) : SyntaxNode;
