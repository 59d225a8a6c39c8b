using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Planning;

/// <summary>
/// Liveness-based memory planning: every temporary lives from the first launch that touches it to the last,
/// over the step's launch sequence (forward, then backward). Temporaries whose lifetimes do not overlap share
/// a slot, allocated once. Slots are per size symbol set (all N-sized buffers together), sized to their largest
/// tenant. Buffers the caller reads (outputs, the loss, input gradients) keep their own memory.
/// </summary>
public static class BufferPlanner
{
    public static void Assign(Plan plan)
    {
        var sequence = plan.Forward.Concat(plan.Backward).ToList();
        var first = new Dictionary<int, int>();
        var last = new Dictionary<int, int>();
        for (var i = 0; i < sequence.Count; i++)
            foreach (var arg in sequence[i].Args.Where(a => a.Buffer >= 0))
            {
                if (!first.ContainsKey(arg.Buffer)) first[arg.Buffer] = i;
                last[arg.Buffer] = i;
            }

        // The B of a pack the device may skip (KernelVariant.PackB) lives through the GEMM that reads the packed panels,
        // which then reads B in place.
        for (var i = 0; i < sequence.Count; i++)
            if (sequence[i].Variant == KernelVariant.PackB && sequence[i].Args[3].Buffer is var b and >= 0)
            {
                var packed = sequence[i].Args[4].Buffer;
                var gemm = sequence.FindIndex(i + 1, l => l.Args.Any(a => a.Buffer == packed));
                if (gemm > last[b]) last[b] = gemm;
            }

        // A buffer a loop over time touches lives through the whole loop: a step reads what the step before wrote
        // (the carried state) and what was written before the loop (the sequences), at every iteration.
        foreach (var loop in sequence.Select((l, i) => (l.Loop, i)).Where(x => x.Loop is not null).GroupBy(x => x.Loop!.Id))
        {
            var (start, end) = (loop.Min(x => x.i), loop.Max(x => x.i));
            foreach (var buffer in loop.SelectMany(x => sequence[x.i].Args).Where(a => a.Buffer >= 0).Select(a => a.Buffer).Distinct())
            {
                first[buffer] = Math.Min(first[buffer], start);
                last[buffer] = Math.Max(last[buffer], end);
            }
        }

        var pinned = new HashSet<int>(plan.Outputs.Concat(plan.InputGradients).Select(b => b.Buffer));
        if (plan.Loss is { } loss) pinned.Add(loss.Buffer);
        var candidates = plan.Buffers.Where(b => b.Kind == StorageKind.Temp && !pinned.Contains(b.Index) && first.ContainsKey(b.Index)).ToList();

        foreach (var group in candidates.GroupBy(b => b.Elements.Symbols))
        {
            // Greedy over lifetimes in order of start; reuse the free slot that fits best, else grow one, else open one.
            var slots = new List<(int Slot, long Coef, int FreeAfter)>();
            foreach (var buffer in group.OrderBy(b => first[b.Index]).ThenBy(b => b.Index))
            {
                var start = first[buffer.Index];
                var need = buffer.Elements.Coef;
                var free = slots.Select((s, i) => (s, i)).Where(x => x.s.FreeAfter < start).ToList();
                var fits = free.Where(x => x.s.Coef >= need).OrderBy(x => x.s.Coef).ToList();
                int index;
                if (fits.Count > 0) index = fits[0].i;
                else if (free.Count > 0) index = free.OrderByDescending(x => x.s.Coef).First().i;
                else
                {
                    slots.Add((plan.Slots.Count, 0, -1));
                    plan.Slots.Add(0);
                    index = slots.Count - 1;
                }
                var slot = slots[index];
                var coef = Math.Max(slot.Coef, need);
                slots[index] = (slot.Slot, coef, last[buffer.Index]);
                plan.Slots[slot.Slot] = new Dim(coef, buffer.Elements.Symbols);
                plan.Buffers[buffer.Index] = buffer with { Slot = slot.Slot };
            }
        }
    }

    /// <summary>Device elements of the planned buffers (slots and unpooled ones) and of one buffer per value, for given sizes.</summary>
    public static (long Planned, long Naive) Elements(Plan plan, IReadOnlyDictionary<string, long> symbols)
    {
        var own = plan.Buffers.Where(b => b.Kind is StorageKind.Temp or StorageKind.Input or StorageKind.Packed).ToList();
        var planned = own.Where(b => b.Slot < 0).Sum(b => b.Elements.Eval(symbols)) + plan.Slots.Sum(s => s.Eval(symbols));
        var naive = own.Sum(b => b.Elements.Eval(symbols));
        return (planned + 2 * plan.ArenaElements, naive + 2 * plan.ArenaElements);
    }
}
