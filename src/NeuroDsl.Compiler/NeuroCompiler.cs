using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Compiler.Semantics;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler;

/// <summary>Everything the compiler produced for one model of a file.</summary>
public sealed record ModelOutput(string Name, ModelIr Ir, Plan Plan, string KernelSource, string CSharp);

/// <summary>The result of compiling one `.nd` file: its models (empty on error) and every diagnostic.</summary>
public sealed record CompileResult(IReadOnlyList<ModelOutput> Models, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool Success => Diagnostics.All(d => !d.IsError);
}

/// <summary>Choices a caller makes about the code the compiler produces.</summary>
/// <param name="FuseAttention">Rewrite attention written from primitives into the streaming kernels
/// (<see cref="Fusion.AttentionFuser"/>); false keeps every op of it as written (scores stored).</param>
public sealed record CompileOptions(bool FuseAttention = true)
{
    public static readonly CompileOptions Default = new();
}

/// <summary>The compiler's entry point; reads like the pipeline and stops after the first stage with errors.</summary>
public static class NeuroCompiler
{
    public const string DefaultNamespace = "NeuroDsl.Models";

    /// <summary>
    /// The compile's own stack. The parser and binder bound their recursion (<see cref="Parser.MaxNesting"/>), but
    /// Sprache spends kilobytes of stack per level and a host's thread may have as little as 256 KB (the IDE's
    /// compiler server, a thread-pool thread): a stack overflow cannot be caught and would take the host down, so
    /// the work runs on a thread whose stack is known to hold the deepest input the limits let through.
    /// </summary>
    public const int StackBytes = 64 * 1024 * 1024;

    /// <summary>
    /// Compiles a file's text. Never throws: an internal failure becomes a located ND0999. <paramref name="file"/> names
    /// the file in diagnostics and comments; <paramref name="sourcePath"/> (default: <paramref name="file"/>) is the
    /// path the generated C#'s <c>#line</c> directives name, the file's full path when the generator compiles it.
    /// <paramref name="options"/> (default <see cref="CompileOptions.Default"/>) turns compiler rewrites on or off.
    /// </summary>
    public static CompileResult Compile(string file, string text, string? ns = null, string? sourcePath = null, CompileOptions? options = null)
    {
        // The compiler formats with the invariant culture throughout, so the thread's culture does not matter.
        CompileResult? result = null;
        Thread thread;
        try
        {
            thread = new Thread(() => result = CompileOnThisThread(file, text, ns, sourcePath, options ?? CompileOptions.Default), StackBytes)
            {
                IsBackground = true,
                Name = "NeuroDsl compile",
            };
            thread.Start();
        }
        catch (Exception e) when (e is OutOfMemoryException or PlatformNotSupportedException or ThreadStartException)
        {
            // No thread to be had (a platform without threads, no address space): compile on the caller's stack.
            return CompileOnThisThread(file, text, ns, sourcePath, options ?? CompileOptions.Default);
        }
        thread.Join();
        return result!;
    }

    private static CompileResult CompileOnThisThread(string file, string text, string? ns, string? sourcePath, CompileOptions options)
    {
        var diagnostics = new DiagnosticBag();
        try
        {
            var syntax = Parser.ParseFile(file, text, diagnostics);
            if (syntax is null || diagnostics.HasErrors) return Fail(diagnostics);

            var models = Binder.Bind(syntax, diagnostics);
            if (diagnostics.HasErrors) return Fail(diagnostics);

            var lines = new SourceLines(file, text);
            var outputs = new List<ModelOutput>();
            foreach (var model in models)
            {
                model.Source = lines;
                try
                {
                    if (options.FuseAttention) Fusion.AttentionFuser.Fuse(model.Graph);
                    Fusion.BiasFolder.Fold(model.Graph);
                    Differentiator.Differentiate(model.Graph, diagnostics);
                    if (diagnostics.HasErrors) return Fail(diagnostics);
                    var plan = Planner.Build(model);
                    var kernels = KernelText(plan);
                    var csharp = CSharpEmitter.Emit(model, plan, kernels, ns ?? DefaultNamespace, sourcePath);
                    outputs.Add(new ModelOutput(model.Name, model, plan, kernels, csharp));
                }
                catch (OverflowException)
                {
                    // The binder checked the forward totals; the backward pass and the arena can still pass 2^63.
                    diagnostics.Error(Codes.SizeOverflow, model.Span,
                        "the backward pass or the buffer arena passes 2^63 bytes", model.Name);
                    return Fail(diagnostics);
                }
            }
            return new CompileResult(outputs, diagnostics.Items);
        }
        catch (Exception e)
        {
            // The compiler must never crash its host (the IDE, the build, the CLI): report and stop. A failed static
            // initializer (the op registry) is reported by its cause, not as "a type initializer threw".
            if (e is TypeInitializationException { InnerException: { } inner }) e = inner;
            diagnostics.Error(Codes.Internal, SourceSpan.None(file), e.GetType().Name + " at " + FirstFrame(e), e.Message);
            return Fail(diagnostics);
        }
    }

    private static CompileResult Fail(DiagnosticBag diagnostics) =>
        new(Array.Empty<ModelOutput>(), diagnostics.Items);

    /// <summary>The first frame in the compiler's own code (a dictionary's indexer names no culprit), else the first.</summary>
    private static string FirstFrame(Exception e)
    {
        var frames = (e.StackTrace ?? "?").Split('\n').Select(f => f.Trim()).ToList();
        return frames.FirstOrDefault(f => f.Contains("NeuroDsl.")) ?? frames[0];
    }

    /// <summary>The OpenCL C of a plan's generated kernels, in launch order.</summary>
    public static string KernelText(Plan plan)
    {
        var header = "// Generated OpenCL C. Sizes named ND_<symbol> are set with -D when the program is built.\n"
            + (plan.Forward.Concat(plan.Backward).Any(l => l.Lanes)
                ? "// ND_LANES: the consecutive elements each work-item of a kernel looping over lanes takes (the device's vector width\n"
                  + "// on a CPU, so the compiler vectorizes the loop; 1 on a GPU). Lanes never cross the innermost axis (a multiple\n"
                  + "// of 16), and they are independent as work-items are, which the loop's assume_safety pragma tells the compiler.\n"
                  + "#ifndef ND_LANES\n#define ND_LANES 1\n#endif\n"
                : "")
            + (plan.Forward.Concat(plan.Backward).Any(l => l.Gpu is not null)
                ? "// ND_GPU: 1 where the device runs GPU shapes: the convolution and pooling kernels then compute one output\n"
                  + "// element per work-item, consecutive work-items on consecutive x (their form under #if ND_GPU).\n"
                  + (plan.Forward.Concat(plan.Backward).Any(l => l.GpuGroup is not null)
                      ? "// The attention kernels' GPU forms run a work-group per block of query or key rows, tiles in local memory.\n"
                      : "")
                  + "#ifndef ND_GPU\n#define ND_GPU 0\n#endif\n"
                : "")
            + (plan.Forward.Concat(plan.Backward).Any(l => l.ByConvPixels is not null)
                ? "// ND_CONV_PIXELS: the most output pixels a work-item of the direct convolution computes (the device's register\n"
                  + "// budget; a power of two from 1 to 16). Each kernel takes the largest divisor of its row width up to it, in\n"
                  + "// the form under #if ND_CONV_PIXELS >= that bound, and is launched with that form's global size.\n"
                  + "#ifndef ND_CONV_PIXELS\n#define ND_CONV_PIXELS 8\n#endif\n"
                : "");
        return header + string.Concat(plan.Preludes.Select(p => "\n" + p)) + string.Concat(plan.Kernels.Select(k => "\n" + k.Code));
    }
}
