using System.Linq;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Review findings on row fusion that a kernel-vs-reference comparison does not see: the shape of the plan.</summary>
public sealed class RowFusionReviewTests
{
    [Fact]
    public void IdenticalResidualBlocks_ShareTheirBackwardRowKernels()
    {
        // Each block's layer norm reads the residual stream, an add that a forward row kernel stores anyway. The
        // backward row kernel of block k should read it, not recompute the k adds before it: then the blocks after
        // the first share one backward kernel, and no backward row kernel reads every earlier block's output.
        var m = ReferenceOps.Compile().Single(c => c.Name == "OpRowReviewResidual");
        var rows = m.Plan.Backward.Where(l => l.Rows).ToList();
        Assert.Equal(4, rows.Count);
        Assert.True(rows.Select(l => l.Kernel).Distinct().Count() <= 2,
            "backward row kernels: " + string.Join(", ", rows.Select(l => $"{l.Kernel} ({l.Args.Count} args)")));
    }
}
