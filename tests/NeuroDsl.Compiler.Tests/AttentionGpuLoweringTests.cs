using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The fused attention kernels carry a GPU form under <c>#if ND_GPU</c> (a work-group of 64 per block of rows, tiles in
/// local memory) and their launches its work-groups; the runtime tests run both forms against the reference.
/// </summary>
public sealed class AttentionGpuLoweringTests
{
    private static readonly string[] BlockOps =
    {
        "attention", "attention_grad_q", "attention_grad_k", "attention_grad_v", "attention_grad_qkv",
    };

    private static string OpCases => Path.Combine(AppContext.BaseDirectory, "Cases", "Ops", "attention.nd");

    // The op cases, and the Transformer layer of the zoo: heads of 64 through the packed projection, whose dQ/dK/dV
    // kernel declares every staged array at the larger of the two bodies' sizes (a review found it at 37,760 bytes).
    [Theory]
    [InlineData("attention.nd")]
    [InlineData("transformer_layer.nd")]
    public void AttentionBlockLaunches_HaveAGpuForm_WithWorkGroupsOf64_LocalTiles_AndSmallPrivateArrays(string file)
    {
        var path = file == "attention.nd" ? OpCases : Path.Combine(AppContext.BaseDirectory, "Models", file);
        var result = NeuroCompiler.Compile(file, File.ReadAllText(path));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var seen = 0;
        foreach (var m in result.Models)
        {
            var graph = m.Ir.Graph;
            foreach (var l in m.Plan.Forward.Concat(m.Plan.Backward).Where(l => l.Nodes.Any(id => BlockOps.Contains(graph[id].Op))))
            {
                seen++;
                Assert.NotNull(l.Gpu);
                Assert.Equal(64, Assert.IsType<Planning.GpuGroups>(l.GpuGroup).WorkItems);
                Assert.Equal(l.Global, l.Gpu!); // rows by heads (by the part, dQ or dK and dV): the same extents as the CPU's
                var body = m.Plan.Kernels.Single(k => k.Name == l.Kernel).Body;
                var gpu = Regex.Match(body, @"#if ND_GPU\n(.*?)#else\n(.*)#endif\n", RegexOptions.Singleline);
                Assert.True(gpu.Success, l.Kernel + ": no #if ND_GPU form");
                var (g, cpu) = (gpu.Groups[1].Value, gpu.Groups[2].Value);
                Assert.Contains($"__kernel __attribute__((reqd_work_group_size(64, 1, 1))) void {l.Kernel}(", g);
                Assert.Contains($"__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void {l.Kernel}(", cpu);
                // The same parameters in both forms: the C# side binds one argument list.
                string Params(string text) => Regex.Match(text, @"void " + l.Kernel + @"\(([^)]*)\)").Groups[1].Value;
                Assert.Equal(Params(cpu), Params(g));
                Assert.Contains("barrier(CLK_LOCAL_MEM_FENCE);", g);
                Assert.DoesNotMatch(@"float(2|4|8|16)\b", g);
                var local = Regex.Matches(g, @"__local float \w+\[(\d+)\];").Select(x => long.Parse(x.Groups[1].Value)).Sum();
                Assert.InRange(local * 4, 1, 32 * 1024);
                foreach (Match a in Regex.Matches(g, @"(?<!__local )float (\w+)\[(\d+)\];"))
                    Assert.True(int.Parse(a.Groups[2].Value) <= 16, $"{l.Kernel}: private {a.Groups[1].Value}[{a.Groups[2].Value}]");
            }
        }
        // Forward, dQ, dK, dV and the packed projection's dQ/dK/dV, in several cases each.
        Assert.True(seen >= (file == "attention.nd" ? 20 : 2), $"{seen} attention launches");
    }
}
