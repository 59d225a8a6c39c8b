using System.Linq;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>NaN in a max/argmax group on the device (the op cases draw no NaN): it propagates, as in PyTorch.</summary>
public sealed class ReductionTests
{
    [Fact]
    public void OpTensorArgmax_NaNInAGroup_IsItsMaximum_AndTheFirstNaNWins()
    {
        using var m = new OpTensorArgmax(TestDevice.Instance, 1, seed: 3);
        // x: [1, 3, 5, 7]; argmax and max over axis 1 read elements at c·35 + y·7 + z for c = 0, 1, 2.
        var x = Enumerable.Range(0, 105).Select(v => (float)(v % 11)).ToArray();
        x[35] = float.NaN;              // group (y 0, z 0): 0, NaN, 4
        x[36] = x[71] = float.NaN;      // group (y 0, z 1): 1, NaN, NaN — the first NaN (c = 1) wins
        m.SetInput("x", x);
        m.SetInput("r", new float[35]);
        m.Forward();
        var max = m.Read("m");
        var index = m.Read("i");
        Assert.True(float.IsNaN(max[0]));
        Assert.True(float.IsNaN(max[1]));
        Assert.Equal(new[] { 1f, 1f }, index.Take(2));
        // A group without NaN is unaffected: (y 0, z 2) holds 2, 4, 6 → the maximum 6 at c = 2.
        Assert.Equal(6f, max[2]);
        Assert.Equal(2f, index[2]);
    }
}
