using System.Linq;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// Indices outside the table on the device (the op cases draw only valid ones): the kernels give NaN where the
/// reference does, read nothing through a bad index (an index of ±2³¹ would fault), and send it no gradient.
/// </summary>
public sealed class GatherTests
{
    [Fact]
    public void OpGather_OutOfRangeIndex_GivesNaN_AndSendsNoGradient()
    {
        using var m = new OpGather(TestDevice.Instance, 2, seed: 3);
        m.ComputeInputGradients = true; // the table is an input here
        var table = Enumerable.Range(0, 35).Select(v => (float)v).ToArray(); // row v holds 5v .. 5v + 4
        m.SetInput("table", table);
        m.SetInput("ids", new[] { 6, -1, 7, int.MaxValue, int.MinValue, 6 });
        m.SetInput("r", Enumerable.Range(1, 30).Select(v => (float)v).ToArray());
        m.Forward();
        m.Backward();

        var y = m.Read("y");
        Assert.Equal(table.Skip(30), y.Take(5));
        Assert.All(y.Skip(5).Take(20), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(table.Skip(30), y.Skip(25));
        // dL/dy = r / 30; row 6 is picked at positions 0 and 5, every other row by no valid index.
        var grad = m.Read("grad.table");
        Assert.All(grad.Take(30), v => Assert.Equal(0f, v));
        for (var k = 0; k < 5; k++) Assert.Equal((1 + k + 26 + k) / 30f, grad[30 + k], 5);
    }

    [Fact]
    public void OpGatherOneHot_OutOfRangeIndex_GivesARowOfNaN()
    {
        using var m = new OpGatherOneHot(TestDevice.Instance, 1, seed: 3);
        m.SetInput("ids", new[] { 3, 7, -1 });
        m.SetInput("x", new float[21]);
        m.Forward();
        var y = m.Read("y");
        Assert.Equal(new[] { 0f, 0, 0, 1, 0, 0, 0 }, y.Take(7));
        Assert.All(y.Skip(7), v => Assert.True(float.IsNaN(v)));
    }
}
