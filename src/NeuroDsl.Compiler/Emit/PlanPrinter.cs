using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Planning;

namespace NeuroDsl.Compiler.Emit;

/// <summary>The printer for the plan stage (<c>neurodsl plan</c>): buffers and their slots, then every launch in order.</summary>
public static class PlanPrinter
{
    public static string Print(Plan plan, string file)
    {
        var sb = new StringBuilder();
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        string Buffer(int b) => "b" + I(b) + "(" + plan.Buffers[b].Name + ")";
        sb.Append("# parameters: arena of ").Append(I(plan.ArenaElements)).Append(" floats, trainable prefix ")
            .Append(I(plan.TrainableElements)).Append('\n');
        foreach (var p in plan.Params)
            sb.Append("  +").Append(I(p.Offset)).Append(' ').Append(p.Name).Append(' ').Append(p.Shape)
                .Append(' ').Append(p.Init).Append(p.Trainable ? "" : " (frozen)").Append('\n');
        if (plan.FusedAttention.Count > 0)
        {
            sb.Append("# fused attention (online softmax over keys; NEURODSL_ATTENTION=unfused keeps the ops as written)\n");
            foreach (var (name, scores) in plan.FusedAttention)
                sb.Append("  ").Append(name).Append(": scores ").Append(scores).Append(" never stored, forward or backward\n");
        }
        sb.Append("# buffers\n");
        foreach (var b in plan.Buffers)
        {
            sb.Append("  b").Append(I(b.Index)).Append(' ').Append(b.Name).Append(": ").Append(b.Elements).Append(' ')
                .Append(b.DType.ToString().ToLowerInvariant()).Append(", ").Append(b.Kind.ToString().ToLowerInvariant());
            if (b.Kind is StorageKind.Param or StorageKind.Grad) sb.Append(" at +").Append(I(b.ArenaOffset));
            if (b.Slot >= 0) sb.Append(" in slot ").Append(I(b.Slot));
            sb.Append('\n');
        }
        for (var s = 0; s < plan.Slots.Count; s++)
            sb.Append("  slot ").Append(I(s)).Append(": ").Append(plan.Slots[s]).Append(" floats, shared by ")
                .Append(string.Join(", ", plan.Buffers.Where(b => b.Slot == s).Select(b => b.Name))).Append('\n');
        foreach (var (title, launches) in new[] { ("forward", plan.Forward), ("backward", plan.Backward) })
        {
            sb.Append("# ").Append(title).Append(": ").Append(I(launches.Count)).Append(" launches\n");
            foreach (var l in launches)
            {
                var args = string.Join(", ", l.Args.Select(a =>
                    a.Runtime is { } r ? r.ToString().ToLowerInvariant() : a.Int is { } d ? d.ToString() : Buffer(a.Buffer)));
                var global = l.Variant is KernelVariant.TiledGemm or KernelVariant.TiledGemmBatched ? string.Join(" x ", l.Global) + " in the device's GEMM tiles" : l.Tile is null ? string.Join(" x ", l.Global) : string.Join(" x ", l.Global.Select((g, i) => l.Tile[i] == 1 ? g.ToString() : $"ceil({g}/{l.Tile[i]})"));
                sb.Append("  ").Append(l.Kernel).Append(" [").Append(global).Append(l.Rows ? " rows" : "").Append(l.Lanes ? " in lanes" : "")
                    .Append(string.Concat((l.ByConvPixels ?? System.Array.Empty<ConvPixelsGlobal>()).Select(f =>
                        "; " + string.Join(" x ", f.Global) + " at ND_CONV_PIXELS >= " + I(f.Least))))
                    .Append(l.Gpu is { } gpu ? "; " + string.Join(" x ", gpu.Select((g, i) => i == 0 && l.GpuGroup is { } wg
                        ? $"ceil({g}/{wg.Rows})·{wg.WorkItems}" : g.ToString())) + (l.GpuRows ? " rows" : "") + " with GPU shapes" : "").Append("] (").Append(args).Append(')')
                    .Append(l.InputGradientOnly ? "  input gradients only" : "")
                    .Append(l.LossOnly ? "  only with the loss" : "")
                    .Append(l.KeepsPacked ? "  only after the parameters change" : "")
                    .Append(l.Variant == KernelVariant.PackB ? "  unless the device's GEMM reads B in place" : "")
                    .Append(l.Loop is { } loop ? "  each step t of loop " + I(loop.Id) + (loop.Reverse ? ", last first" : "") : "")
                    .Append("  # ").Append(file).Append(':').Append(I(l.Line)).Append('\n');
            }
        }
        return sb.ToString();
    }
}
