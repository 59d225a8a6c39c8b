using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Inverted dropout: in training each element is kept with probability 1 − p and scaled by 1/(1 − p); in
/// evaluation it passes unchanged. The mask is a pure function of (seed, step, node, element) — runtime
/// arguments $seed and $step, the node's random stream — so the gradient recomputes it instead of storing it.
/// </summary>
public sealed class Dropout : OpFamily
{
    /// <summary>dy → dy·mask/(1 − p), the forward node's mask recomputed.</summary>
    public static readonly OpDef Grad = new DropoutOp("dropout_grad", null);

    public static readonly OpDef Forward =
        new DropoutOp("dropout", (g, n, dy) => new Node?[] { g.Op(Grad, n.Shape, n.Attrs, n, dy) });

    /// <summary>
    /// The counter-based hash behind dropout masks (a lowbias32 chain), written once per program that uses it;
    /// mirrored by <see cref="Hash"/>.
    /// </summary>
    public const string HashSource = @"static uint nd_mix(uint h)
{
    h ^= h >> 16; h *= 0x7feb352dU; h ^= h >> 15; h *= 0x846ca68bU; h ^= h >> 16;
    return h;
}
";

    /// <summary>The dropout mask's hash, bit for bit as the kernel computes it.</summary>
    public static uint Hash(uint seed, uint step, uint stream, uint index) =>
        Mix(seed ^ Mix(step ^ Mix(stream ^ Mix(index))));

    private static uint Mix(uint h)
    {
        unchecked
        {
            h ^= h >> 16;
            h *= 0x7feb352dU;
            h ^= h >> 15;
            h *= 0x846ca68bU;
            h ^= h >> 16;
            return h;
        }
    }

    /// <summary>Elements whose hash is below this are dropped: p of the 2³² hash values.</summary>
    private static uint Threshold(double p) => (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));

    private sealed class DropoutOp : OpDef
    {
        private readonly GradientRule? _gradient;

        public DropoutOp(string name, GradientRule? gradient) : base(name, PrimKind.Custom, 1) => _gradient = gradient;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient?.Invoke(g, node, dy);

        public override string? Prelude => HashSource;

        // The gradient is the same map as the forward: dy through the forward node's mask.
        public override double[] Reference(RefCall call)
        {
            if (!call.Training) return (double[])call.Inputs[0].Clone();
            var p = call.Node.AttrDouble("p");
            var threshold = Threshold(p);
            // The kernel takes the low 32 bits of each, as a uint argument does.
            var seed = unchecked((uint)(call.Symbols.TryGetValue(ReferenceInterpreter.SeedSymbol, out var s) ? s : 0));
            var step = unchecked((uint)(call.Symbols.TryGetValue(ReferenceInterpreter.StepSymbol, out var st) ? st : 0));
            var stream = unchecked((uint)call.Node.AttrInt("stream"));
            return call.Inputs[0]
                .Select((v, i) => Hash(seed, step, stream, (uint)i) >= threshold ? v / (1 - p) : 0).ToArray();
        }

        public override NodeLaunch Lower(KernelCall call) => Kernel(call);
    }

    public override void Surface(SurfaceTable table) =>
        table.Def("dropout", LayerCategory.Normalization, Bind, T("x"), P("p", ArgKind.Number, Number(0.5)));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        var p = c.Number("p");
        if (p < 0 || p >= 1) c.Fail(Codes.BadValue, null, $"Give dropout a probability in [0, 1), not {p}");
        var attrs = new Dictionary<string, object> { ["p"] = p };
        var node = c.Binder.AddOp(Forward, new[] { x.Id }, x.Shape, DType.F32, attrs, c.Span, "dropout");
        attrs["stream"] = (long)node.Id; // the mask's random stream; backward reuses it
        return new TensorValue(node);
    }

    private static NodeLaunch Kernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var p = node.AttrDouble("p");
        var stream = node.AttrInt("stream");
        var threshold = Threshold(p);
        var code = $@"__kernel void {name}(__global const float* restrict in0, __global float* restrict out,
                     const uint seed, const uint step, const int training)
{{
    const int i = get_global_id(0);
    if (!training) {{ out[i] = in0[i]; return; }}
    const uint h = nd_mix(seed ^ nd_mix(step ^ nd_mix({I(stream)}u ^ nd_mix((uint)i))));
    out[i] = h >= {threshold.ToString(CultureInfo.InvariantCulture)}u ? in0[i] * {Lit(1.0 / (1.0 - p))} : 0.0f;
}}
";
        var args = new List<ArgSpec>
            { ArgSpec.Node(inputs[0].Id), ArgSpec.Node(node.Id), ArgSpec.Seed, ArgSpec.Step, ArgSpec.Training };
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, code);
    }
}
