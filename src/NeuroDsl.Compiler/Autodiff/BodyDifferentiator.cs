using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Autodiff;

/// <summary>
/// Derives the body of a reverse-time scan from a cell's body, ahead of time: one step of backpropagation through
/// time. The new body recomputes the step from its inputs (x_t, s_{t-1} and the shared tensors), adds the gradient
/// that reaches each new state from outside (∂y_t) to the one carried back from step t+1, and runs reverse mode
/// over the recomputed step with the same rules as <see cref="Differentiator"/>. Inputs: x_t…, s_{t-1}…, shared…,
/// ∂y_t…, carried ∂s_t…; outputs: ∂s_{t-1}…, ∂x_t…, ∂shared… (this step's share, summed over steps by the loop).
/// </summary>
public static class BodyDifferentiator
{
    /// <summary>
    /// A shared tensor whose gradient is computed after the loop from values the loop stacks, as cuDNN does, instead
    /// of a thin kernel per step summed in place. A weight whose gradient is a product over the batch rows,
    /// Σ_n A[n]ᵀ B[n] at every step: the loop stacks A and B (results <paramref name="PartA"/> and
    /// <paramref name="PartB"/> of the scan_grad) and one GEMM over all N·T rows sums over the steps too. A bias whose
    /// gradient is a row sum, Σ_n A[n] (<paramref name="PartB"/> −1): one reduction over all N·T rows of A.
    /// </summary>
    internal sealed record Deferred(int Shared, int PartA, int PartB)
    {
        public bool IsSum => PartB < 0;
    }

    /// <summary>
    /// The derived body; the deferred gradients; and the cell's matrix products whose per-step values the forward loop
    /// keeps (cuDNN's reserve space) so the reverse loop reads them instead of computing them again: the body's inputs
    /// end with one per kept product, in this order.
    /// </summary>
    internal static (Graph Body, List<Deferred> Deferred, List<int> Saved) Differentiate(Graph cell, Scan.Layout layout)
    {
        var body = new Graph();
        var map = new Dictionary<int, Node>();
        foreach (var input in cell.Inputs)
            map[input.Id] = Input(body, input.Shape, input.Name, input.Span);
        var stateOutputs = cell.Outputs.Select(o => cell[o.Value]).ToList();
        var dys = stateOutputs.Select((s, i) => Input(body, s.Shape, "grad." + cell.Outputs[i].Key, s.Span)).ToList();
        var carried = stateOutputs.Select((s, i) => Input(body, s.Shape, "grad." + cell.Outputs[i].Key + ".carried", s.Span)).ToList();

        // The step, recomputed from the states the forward loop kept, except its matrix products of per-step rows
        // (the recurrent projection h·Wᵀ), each with the sums it feeds alone (an LSTM's z = xw + b_ih + h·W_hhᵀ +
        // b_hh): the forward loop keeps those values as well. The copies here stand only for their gradient rules
        // (a sum's and a product's need no values); what read a kept value reads it from an input of the body.
        var batch = cell.Outputs.Count > 0 ? cell[cell.Outputs[0].Value].Shape[0] : (Dim)1;
        var keep = Kept(cell, layout, batch);
        var copies = new List<Node>();
        var saved = new List<int>();
        var keptFor = new Dictionary<int, Node>();
        foreach (var node in cell.Nodes)
        {
            if (node.Kind == NodeKind.Input) continue;
            if (node.Kind == NodeKind.Param) throw new InvalidOperationException("a cell's weights are inputs of the scan");
            var copy = body.Add(node.Kind, node.Def, node.Inputs.Select(i => map[i].Id).ToArray(), node.Shape, node.DType,
                node.Attrs, node.Span);
            copy.Name = node.Name;
            copy.IsBackward = true;
            map[node.Id] = copy;
            copies.Add(copy);
            if (keep.Contains(node.Id))
            {
                var kept = Input(body, node.Shape, "saved." + node.Name, node.Span);
                keptFor[copy.Id] = kept;
                map[node.Id] = kept;
                saved.Add(node.Id);
            }
        }
        bool PerStepRows(Node x) => x.Shape.Rank == 2 && x.Shape[0] == batch && x.Kind != NodeKind.Const;

        var g = new GradBuilder(body);
        var needs = new HashSet<int>(body.InputIds.Take(cell.Inputs.Count()));
        foreach (var copy in copies)
            if (copy.Kind == NodeKind.Op && copy.Inputs.Any(needs.Contains))
            {
                needs.Add(copy.Id);
                if (keptFor.TryGetValue(copy.Id, out var kept)) needs.Add(kept.Id);
            }

        var grads = new Dictionary<int, Node>();
        void Accumulate(Node target, Node grad) =>
            grads[target.Id] = grads.TryGetValue(target.Id, out var sum) ? g.Ew(Arithmetic.Add, target, sum, grad) : grad;
        for (var i = 0; i < stateOutputs.Count; i++)
        {
            var output = map[stateOutputs[i].Id];
            var seed = g.Ew(Arithmetic.Add, output, dys[i], carried[i]);
            seed.Name = "grad." + cell.Outputs[i].Key + ".total";
            Accumulate(output, seed);
        }
        for (var c = copies.Count - 1; c >= 0; c--)
        {
            var node = copies[c];
            // A kept product's gradient reached its value, the body's input.
            var valueId = keptFor.TryGetValue(node.Id, out var keptValue) ? keptValue.Id : node.Id;
            if (node.Kind != NodeKind.Op || !needs.Contains(node.Id) || !grads.TryGetValue(valueId, out var dy)) continue;
            var inputGrads = node.Def.Gradient(g, node, dy)
                ?? throw new InvalidOperationException($"no gradient rule for '{node.Op}' in a cell");
            for (var i = 0; i < node.Inputs.Count; i++)
                if (inputGrads[i] is { } gi && needs.Contains(node.Inputs[i]))
                    Accumulate(body[node.Inputs[i]], gi);
        }

        // Outputs in the scan_grad's order: ∂s_{t-1} (the carry), ∂x_t, ∂shared; the constant 0 where none flows.
        var inputs = cell.Inputs.ToList();
        Node GradOf(int at, string name)
        {
            var input = map[inputs[at].Id];
            if (grads.TryGetValue(input.Id, out var grad)) return grad;
            var zero = g.Const(0.0, input);
            zero.Name = name;
            return zero;
        }
        var k = layout.Seqs;
        var m = layout.StateCount;
        for (var i = 0; i < m; i++) body.Outputs.Add(new("grad." + inputs[k + i].Name, GradOf(k + i, "zero").Id));
        for (var j = 0; j < k; j++) body.Outputs.Add(new("grad." + inputs[j].Name, GradOf(j, "zero").Id));

        // Per-step values stacked over time: a sequence's gradient (part j), or an extra one (after the shared ones).
        var extras = new List<Node>();
        int Stacked(Node value)
        {
            for (var j = 0; j < k; j++)
                if (body.Outputs[m + j].Value == value.Id) return j;
            var e = extras.FindIndex(x => x.Id == value.Id);
            if (e < 0)
            {
                extras.Add(value);
                e = extras.Count - 1;
            }
            return k + m + layout.Shared + e;
        }
        var deferred = new List<Deferred>();
        for (var q = 0; q < layout.Shared; q++)
        {
            var grad = GradOf(k + m + q, "zero");
            if (grad.Def == MatMul.Product && grad.AttrBool("ta") && !grad.AttrBool("tb")
                && PerStepRows(body[grad.Inputs[0]]) && PerStepRows(body[grad.Inputs[1]]))
            {
                deferred.Add(new Deferred(q, Stacked(body[grad.Inputs[0]]), Stacked(body[grad.Inputs[1]])));
                grad = g.Const(0.0, grad);
                grad.Name = "zero";
            }
            else if (grad.Def == Broadcasting.SumTo && PerStepRows(body[grad.Inputs[0]])
                     && grad.Shape.Rank >= 1 && grad.Shape[grad.Shape.Rank - 1] == body[grad.Inputs[0]].Shape[1]
                     && grad.Shape.Dims.Take(grad.Shape.Rank - 1).All(d => d == (Dim)1))
            {
                // A bias added to every row ([F] or [1, F] against [N, F]): its gradient is the rows' sum.
                deferred.Add(new Deferred(q, Stacked(body[grad.Inputs[0]]), -1));
                grad = g.Const(0.0, grad);
                grad.Name = "zero";
            }
            body.Outputs.Add(new("grad." + inputs[k + m + q].Name, grad.Id));
        }
        foreach (var x in extras) body.Outputs.Add(new("stacked." + x.Name, x.Id));
        return (body, deferred, saved);
    }

    /// <summary>
    /// The cell's values the forward loop keeps: from each matrix product of per-step rows that changes from step to
    /// step, the last of the sums (adds and subtractions of the same shape) it alone feeds, one after another.
    /// </summary>
    private static HashSet<int> Kept(Graph cell, Scan.Layout layout, Dim batch)
    {
        var readers = new Dictionary<int, List<Node>>();
        foreach (var node in cell.Nodes)
            foreach (var input in node.Inputs.Distinct())
            {
                if (!readers.TryGetValue(input, out var list)) readers[input] = list = new List<Node>();
                list.Add(node);
            }
        var outputs = new HashSet<int>(cell.Outputs.Select(o => o.Value));
        var varying = new HashSet<int>(cell.InputIds.Take(layout.Seqs + layout.StateCount));
        // Only what the new states depend on: a product the cell computes and never uses is kept by nobody.
        var live = new HashSet<int>();
        for (var stack = new Stack<int>(outputs); stack.Count > 0;)
        {
            var id = stack.Pop();
            if (live.Add(id)) foreach (var i in cell[id].Inputs) stack.Push(i);
        }
        var kept = new HashSet<int>();
        foreach (var node in cell.Nodes)
        {
            if (node.Kind != NodeKind.Op || !live.Contains(node.Id)) continue;
            if (node.Inputs.Any(varying.Contains)) varying.Add(node.Id);
            if (node.Def != MatMul.Product || !varying.Contains(node.Id) || node.Shape.Rank != 2 || node.Shape[0] != batch) continue;
            var value = node;
            while (!outputs.Contains(value.Id) && readers.TryGetValue(value.Id, out var rs) && rs.Count == 1
                   && (rs[0].Def == Arithmetic.Add || rs[0].Def == Arithmetic.Sub) && rs[0].Shape.Equals(value.Shape))
                value = rs[0];
            kept.Add(value.Id);
        }
        return kept;
    }

    private static Node Input(Graph body, Shape shape, string name, Diagnostics.SourceSpan span)
    {
        var node = body.Add(NodeKind.Input, Leaves.Input, Array.Empty<int>(), shape, DType.F32, null, span);
        node.Name = name;
        body.InputIds.Add(node.Id);
        return node;
    }
}
