using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Emit;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The direct convolution holds one CPU form per distinct pixel block that ND_CONV_PIXELS (1, 2, 4, 8, 16) gives for its
/// row width, under <c>#if ND_CONV_PIXELS &gt;= m</c>, and its C# launch takes the global size of the form the model's
/// program was built with; the runtime tests run every form against the reference.
/// </summary>
public sealed class ConvPixelsLoweringTests
{
    // Many output channels (the direct convolution, forward and as the stride-1 input gradient) at rows whose blocks differ:
    // forward OW 7, 12, 16, 28, 17; their input gradients' rows 9, 14, 16 (padded), 30, 19. Rows of 17 and 19 have no
    // divisor but 1 up to 16: one form.
    private const string Source = @"model P {
  input x7: f32[N, 10, 9, 9]
  input x12: f32[N, 9, 6, 14]
  input x16: f32[N, 12, 4, 16]
  input x28: f32[N, 9, 3, 30]
  input x17: f32[N, 9, 3, 19]
  a = x7 |> conv2d(12, kernel: 3) |> relu
  b = x12 |> conv2d(16, kernel: 3)
  c = x16 |> conv2d(24, kernel: 3, padding: 1) |> relu
  d = x28 |> conv2d(10, kernel: 3)
  e = x17 |> conv2d(16, kernel: 3)
  output y = (a |> flatten |> sum) + (b |> flatten |> sum) + (c |> flatten |> sum) + (d |> flatten |> sum) + (e |> flatten |> sum)
  loss mean(y)
}
";

    // Row width → (least ND_CONV_PIXELS, pixels per work-item) of each form, largest first: the largest divisor of the
    // width up to the bound, written out by hand.
    private static readonly Dictionary<long, (int Least, long Block)[]> Expected = new()
    {
        [7] = new[] { (8, 7L), (1, 1L) },
        [9] = new[] { (16, 9L), (4, 3L), (1, 1L) },
        [12] = new[] { (16, 12L), (8, 6L), (4, 4L), (2, 2L), (1, 1L) },
        [14] = new[] { (16, 14L), (8, 7L), (2, 2L), (1, 1L) },
        [16] = new[] { (16, 16L), (8, 8L), (4, 4L), (2, 2L), (1, 1L) },
        [28] = new[] { (16, 14L), (8, 7L), (4, 4L), (2, 2L), (1, 1L) },
        [30] = new[] { (16, 15L), (8, 6L), (4, 3L), (2, 2L), (1, 1L) },
        [17] = new[] { (1, 1L) },
        [19] = new[] { (1, 1L) },
    };

    private static readonly Regex Block = new(@"const int ox0 = \(i % (\d+)\) \* (\d+);");

    private static ModelOutput Compile()
    {
        var result = NeuroCompiler.Compile("p.nd", Source);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single();
    }

    [Fact]
    public void DirectConvolutions_HaveAFormPerPixelBlock_AndLaunchTheBuiltOnesGlobalSize()
    {
        var m = Compile();
        var launches = m.Plan.Forward.Concat(m.Plan.Backward).ToList();
        var widths = new HashSet<long>();
        for (var j = 0; j < launches.Count; j++)
        {
            var l = launches[j];
            var body = m.Plan.Kernels.SingleOrDefault(k => k.Name == l.Kernel)?.Body;
            if (body is null || !Block.IsMatch(body)) continue;
            // The CPU forms: the text after the GPU form, split at the #if ND_CONV_PIXELS chain.
            var cpu = body[(body.IndexOf("#else\n", System.StringComparison.Ordinal) + "#else\n".Length)..];
            var bounds = Regex.Matches(cpu, @"#(?:el)?if ND_CONV_PIXELS >= (\d+)\n").Select(x => int.Parse(x.Groups[1].Value)).ToList();
            var blocks = Block.Matches(cpu).Select(x => (Blocks: long.Parse(x.Groups[1].Value), P: long.Parse(x.Groups[2].Value))).ToList();
            var width = blocks[0].Blocks * blocks[0].P;
            Assert.All(blocks, b => Assert.Equal(width, b.Blocks * b.P));
            Assert.True(Expected.TryGetValue(width, out var expected), $"{l.Kernel}: a row of {width} is not one of the cases");
            widths.Add(width);
            Assert.Equal(expected.Select(e => e.Block), blocks.Select(b => b.P));
            Assert.Equal(expected.Take(expected.Length - 1).Select(e => e.Least), bounds);
            Assert.Equal(expected.Length > 1, cpu.Contains("#else\n", System.StringComparison.Ordinal));

            // Each form's global size is its work-items: the fallback's in Global, the others' in ByConvPixels.
            var perBlock = l.Global[0].Coef / blocks[^1].Blocks;
            Assert.Equal(l.Global[0].Coef, perBlock * blocks[^1].Blocks);
            if (expected.Length == 1)
            {
                Assert.Null(l.ByConvPixels);
                continue;
            }
            Assert.Equal(expected.Take(expected.Length - 1).Select(e => e.Least), l.ByConvPixels!.Select(f => f.Least));
            Assert.Equal(blocks.Take(blocks.Count - 1).Select(b => perBlock * b.Blocks), l.ByConvPixels!.Select(f => Assert.Single(f.Global).Coef));
            Assert.All(l.ByConvPixels!, f => Assert.Equal(l.Global[0].Symbols, f.Global[0].Symbols));

            // The C# picks the global by the model's ConvPixels, largest bound first, after the GPU shapes.
            var k = "_k" + j;
            var launch = "if (GpuShapes) LaunchGpu(" + k + ", " + l.Gpu![0].ToCSharp() + "); else "
                + string.Concat(l.ByConvPixels!.Select(f => $"if (ConvPixels >= {f.Least}) Launch({k}, {f.Global[0].ToCSharp()}); else "))
                + $"Launch({k}, {l.Global[0].ToCSharp()});";
            Assert.Contains(launch, m.CSharp);
        }
        Assert.Equal(Expected.Keys.OrderBy(w => w), widths.OrderBy(w => w));
        Assert.Contains("#ifndef ND_CONV_PIXELS\n#define ND_CONV_PIXELS 8\n#endif\n", m.KernelSource);
        Assert.Contains(" at ND_CONV_PIXELS >= 16", PlanPrinter.Print(m.Plan, "p.nd"));
    }

    [Fact]
    public void AModelWhoseConvolutionsHaveOneBlock_HasNoConvPixelsForms()
    {
        // A row of 17 has no divisor but 1 up to 16: one block at every bound.
        var result = NeuroCompiler.Compile("o.nd", "model O {\n  input x: f32[N, 9, 3, 19]\n  output y = x |> conv2d(16, kernel: 3) |> relu\n}\n");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var m = result.Models.Single();
        Assert.Matches(Block, m.KernelSource);
        Assert.DoesNotContain("ND_CONV_PIXELS", m.KernelSource);
        Assert.DoesNotContain("ConvPixels", m.CSharp);
        Assert.All(m.Plan.Forward, l => Assert.Null(l.ByConvPixels));
    }
}
