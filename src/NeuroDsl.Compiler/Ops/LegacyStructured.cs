using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Transitional: structured ops whose rule, reference and kernel still live in the per-pass tables
/// (GradientRules, ReferenceInterpreter.Structured, OpenClKernels.Structured). Each moves to a family file.
/// </summary>
public sealed class LegacyStructured : OpFamily
{
    private static readonly string[] Names =
    {
        "bn_stats", "bn_apply", "bn_grad_params", "bn_grad_input", "dropout", "dropout_grad",
        "rbf", "rbf_grad_input", "rbf_grad_weight",
        "instance_norm", "instance_norm_grad",
        "lrn", "lrn_grad",
    };

    private static readonly IReadOnlyList<OpDef> Defs = Names.Select(n => (OpDef)new StructuredOp(n)).ToList();

    public override IEnumerable<OpDef> Definitions() => Defs;

    private sealed class StructuredOp : OpDef
    {
        public StructuredOp(string name) : base(name, PrimKind.Custom, -1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            GradientRules.TryGet(Name, out var rule) ? rule(g, node, dy) : null;

        public override double[] Reference(RefCall call) =>
            ReferenceInterpreter.Structured(call.Node, call.Inputs, call.InputShapes, call.OutShape, call.Symbols);

        public override NodeLaunch Lower(KernelCall call) =>
            OpenClKernels.Structured(call.Name, call.Node, call.Inputs, call.Comment);
    }
}
