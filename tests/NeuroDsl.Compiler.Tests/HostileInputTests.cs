using System;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Threading;
using NeuroDsl.Compiler.Semantics;
using NeuroDsl.Compiler.Syntax;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// Input no one writes by hand — 100,000 levels of nesting, 100,000-link chains, a 10 MB line, random bytes —
/// ends in a located diagnostic, in bounded time, on any caller's stack: never a stack overflow, which .NET cannot
/// catch and which would take the IDE's compiler server or the build down with it.
/// </summary>
public sealed class HostileInputTests
{
    private const string Head = "model M {\n  input x: f32[N, 4]\n";

    private static string Model(string body) => Head + body + "\n}\n";

    private static string Repeat(string s, int n) => new StringBuilder(s.Length * n).Insert(0, s, n).ToString();

    /// <summary>Compiles on a thread with a 256 KB stack, the smallest a host is likely to give the generator.</summary>
    private static CompileResult CompileOnSmallStack(string text)
    {
        CompileResult? result = null;
        var thread = new Thread(() => result = NeuroCompiler.Compile("m.nd", text), 256 * 1024);
        thread.Start();
        thread.Join();
        return result!;
    }

    private static void AssertFails(CompileResult result, string id, int line)
    {
        Assert.Empty(result.Models);
        var first = result.Diagnostics.First();
        Assert.True(first.Id == id, $"expected {id}, got:\n{string.Join("\n", result.Diagnostics)}");
        Assert.Equal(line, first.Span.Line);
        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "ND0999");
    }

    [Theory]
    [InlineData("(", ")")]
    [InlineData("[", "]")]
    [InlineData("relu(", ")")]
    [InlineData("concat([", "], axis: 1)")]
    [InlineData("if true then ", " else x")]
    [InlineData("x |> repeat 1 { ", " }")]
    public void Nesting100000Deep_IsND0004_AtTheLevelTooDeep(string open, string close)
    {
        // 100,000 deep, or as deep as fits in a file the parser reads (MaxFileChars) for the longer brackets.
        var depth = Math.Min(100_000, (Parser.MaxFileChars - 100) / (open.Length + close.Length));
        var text = Model("  output y = " + Repeat(open, depth) + "x" + Repeat(close, depth));
        var result = CompileOnSmallStack(text);
        AssertFails(result, "ND0004", 3);
        Assert.Equal("Nest expressions at most 256 deep", result.Diagnostics[0].Message);
    }

    [Theory]
    [InlineData("- ", "")]
    [InlineData("not ", "")]
    [InlineData("", "[0]")]
    [InlineData("", ".shape")]
    public void UnaryAndPostfixRuns100000Long_AreND0004(string prefix, string suffix)
    {
        var text = Model("  output y = " + Repeat(prefix, 100_000) + "x" + Repeat(suffix, 100_000));
        AssertFails(CompileOnSmallStack(text), "ND0004", 3);
    }

    [Fact]
    public void NestingWithinTheLimit_Compiles()
    {
        var text = Model("  output y = " + Repeat("(", 200) + "x" + Repeat(")", 200) + " |> relu\n  loss mean(y)");
        var result = CompileOnSmallStack(text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
    }

    [Theory]
    [InlineData(" + x")]
    [InlineData(" |> relu")]
    [InlineData(" * x - x")]
    public void Chains100000Long_FoldWithoutRecursion_AndStopAtTheOpLimit(string link)
    {
        var watch = Stopwatch.StartNew();
        var result = CompileOnSmallStack(Model("  output y = x" + Repeat(link, 100_000)));
        AssertFails(result, "ND0117", 3);
        Assert.Single(result.Diagnostics);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
    }

    [Fact]
    public void ChainsBelowTheOpLimit_Compile()
    {
        // 1,000 terms: the binder folds the chain in a loop (it recursed once per term and overflowed near 10,000).
        var result = CompileOnSmallStack(Model("  output y = x" + Repeat(" + x", 1_000) + "\n  loss mean(y)"));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Take(3)));
    }

    [Fact]
    public void BlocksNested300Deep_AreND0004()
    {
        var text = new StringBuilder();
        text.Append("block B0() (x) {\n  return x |> relu\n}\n");
        for (var i = 1; i <= 300; i++) text.Append($"block B{i}() (x) {{\n  return x |> B{i - 1}()\n}}\n");
        text.Append(Model("  output y = x |> B300()"));
        var result = CompileOnSmallStack(text.ToString());
        Assert.Empty(result.Models);
        Assert.Contains(result.Diagnostics, d => d.Id == "ND0004");
        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "ND0999");
    }

    [Fact]
    public void DimensionProduct100000Long_FoldsWithoutRecursion()
    {
        var text = "model M {\n  input x: f32[N, 2" + Repeat(" * 1", 100_000) + "]\n  output y = x |> relu\n}\n";
        var result = CompileOnSmallStack(text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Take(3)));
    }

    [Fact]
    public void TenMegabyteLine_IsND0007_WhereItPassesTheLimit()
    {
        // No case file: ND0007 needs a file over 1 MiB (EveryDiagnosticCode_HasACaseFile leaves it to this test).
        var line = "model M { input x: f32[N, 4] output y = x" + Repeat(" + x", 2_500_000) + " }";
        Assert.True(line.Length >= 10_000_000);
        var watch = Stopwatch.StartNew();
        var result = CompileOnSmallStack("# one line\n" + line);
        AssertFails(result, "ND0007", 2);
        Assert.Equal(Parser.MaxFileChars - 11 + 1, result.Diagnostics[0].Span.Column);
        Assert.Equal($"Keep a file within 1,048,576 characters, not {line.Length + 11:N0}", result.Diagnostics[0].Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public void MegabyteLines_ParseInLinearTime()
    {
        // Just under the file limit, on one line: a sum of 250,000 terms (stops at the op limit) and 100,000
        // statements (compiles). Spans cost the whitespace they trim, not the length of the line.
        var watch = Stopwatch.StartNew();
        var sum = "model M { input x: f32[N, 4] output y = x" + Repeat(" + x", 250_000) + " }";
        Assert.InRange(sum.Length, 1_000_000, Parser.MaxFileChars);
        AssertFails(CompileOnSmallStack(sum), "ND0117", 1);
        var names = new StringBuilder("model M { input x: f32[N, 4] ");
        for (var i = 0; names.Length < 1_000_000; i++) names.Append("a").Append(i).Append(" = x ");
        var result = CompileOnSmallStack(names.Append("output y = x }").ToString());
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Take(3)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
    }

    [Fact]
    public void RandomBytes_NeverCrash_AndEveryDiagnosticIsLocated()
    {
        var rng = new Random(15);
        for (var k = 0; k < 200; k++)
        {
            var bytes = new byte[rng.Next(1, k < 190 ? 4096 : 1 << 20)];
            rng.NextBytes(bytes);
            // Half the inputs start like a model, so the bytes reach the statement grammar and the binder.
            var text = (k % 2 == 0 ? Head + "  output y = " : "") + Encoding.UTF8.GetString(bytes);
            var result = CompileOnSmallStack(text);
            Assert.NotEmpty(result.Diagnostics);
            Assert.Empty(result.Models);
            foreach (var d in result.Diagnostics)
            {
                Assert.True(d.Id != "ND0999", d.ToString());
                Assert.True(d.Span.Line >= 1 && d.Span.Column >= 1, d.ToString());
            }
        }
    }

    [Fact]
    public void Summary_OfAModelWhoseBatchBytesPass2To63_SaysSo_InsteadOfThrowing()
    {
        // 2^57 elements per example fit in 64 bits (8 bytes each: 2^60); at batch 256 the bytes do not.
        var result = NeuroCompiler.Compile("m.nd", Model("  output y = x |> reshape([-1]) |> relu\n  loss mean(y)")
            .Replace("f32[N, 4]", "f32[N, 144115188075855872]"));
        var model = Assert.Single(result.Models);
        var text = Emit.SummaryWriter.Text(model.Ir, model.Plan);
        Assert.Contains("256: over 2^63 bytes", text);
        Assert.Contains(Emit.SummaryWriter.Json(new[] { (model.Ir, model.Plan) }), s => s == '[');
    }

    [Fact]
    public void Limits_AreThoseTheMessagesName()
    {
        Assert.Equal(256, Parser.MaxNesting);
        Assert.Equal(10_000, Binder.MaxOps);
    }
}
