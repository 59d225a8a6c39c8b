using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>Stores through a fused epilogue: the elementwise chain a convolution kernel applies to its values.</summary>
internal static partial class ConvolutionKernels
{
    /// <summary>
    /// An elementwise chain applied to a convolution's values before they are stored (a fused epilogue): on whole
    /// vectors when it reads no other tensor, otherwise per value with its coordinates c0..c3 and flat index i.
    /// </summary>
    internal sealed class Epilogue
    {
        private readonly Graph _graph;
        private readonly IReadOnlyList<Node> _chain;
        private readonly string _head;

        public Epilogue(Graph graph, Node conv, IReadOnlyList<Node> chain)
        {
            _graph = graph;
            _chain = chain;
            _head = conv.Op;
            ConvId = conv.Id;
            External = ChainCode(graph, chain, conv.Id, Root.Shape, "", "float").External;
        }

        public int ConvId { get; }
        public Node Root => _chain[_chain.Count - 1];
        public List<Node> External { get; }
        public bool IsVector => External.Count == 0;
        /// <summary>The comment line naming what the kernel computes after the convolution.</summary>
        public string Comment => "// Fused: " + _head + " -> " + string.Join(" -> ", _chain.Select(n => n.Op)) + "\n";
        public string Body(string type, string indent) => ChainCode(_graph, _chain, ConvId, Root.Shape, indent, type).Code;

        /// <summary>The locals holding the convolution's value and the chain's result.</summary>
        public string HeadLocal => Local(_chain, ConvId, ConvId);
        public string RootLocal => Local(_chain, ConvId, Root.Id);
    }

    /// <summary>
    /// Code that stores one accumulator through the epilogue. <paramref name="target"/> is the store of lane v with
    /// the value in <c>VALUE</c>; <paramref name="coords"/> declares c0..c3 of lane v; <paramref name="guard"/> (or null)
    /// says which lanes exist. <paramref name="vector"/>, when given, stores a whole vector result at once.
    /// </summary>
    internal static string StoreThrough(Epilogue? ep, string acc, int width, string indent, string target, string coords,
        string? guard, Func<string, string>? vector, Geometry g)
    {
        var sb = new StringBuilder();
        var value = acc;
        if (ep is not null && ep.IsVector)
        {
            sb.Append($"{indent}const float{width} {ep.HeadLocal} = {acc};\n").Append(ep.Body($"float{width}", indent));
            value = ep.RootLocal;
        }
        if (vector is not null && (ep is null || ep.IsVector))
            return sb.Append(indent).Append(vector(value)).Append('\n').ToString();
        sb.Append($"{indent}float lanes[{width}];\n{indent}vstore{width}({value}, 0, lanes);\n{indent}for (int v = 0; v < {width}; v++)\n");
        var inner = indent + "    ";
        if (ep is null || ep.IsVector)
            return sb.Append(guard is null ? "" : $"{inner}if ({guard})\n{inner}    ").Append(target.Replace("VALUE", "lanes[v]")).Append(";\n").ToString();
        sb.Append(guard is null ? $"{inner}{{\n" : $"{inner}if ({guard})\n{inner}{{\n");
        sb.Append($"{inner}    const int {coords};\n");
        sb.Append($"{inner}    const int i = ((c0 * {I(g.OC)} + c1) * {I(g.OH)} + c2) * {I(g.OW)} + c3;\n");
        sb.Append($"{inner}    const float {ep.HeadLocal} = lanes[v];\n").Append(ep.Body("float", inner + "    "));
        sb.Append($"{inner}    {target.Replace("VALUE", ep.RootLocal)};\n{inner}}}\n");
        return sb.ToString();
    }

    /// <summary>Kernel parameters and launch arguments for an epilogue's extra tensors.</summary>
    internal static (string Params, IEnumerable<ArgSpec> Args) EpilogueParams(Epilogue? ep) => ep is null
        ? ("", Enumerable.Empty<ArgSpec>())
        : (string.Concat(ep.External.Select((e, k) => $"__global const {CType(e)}* restrict e{k}, ")), ep.External.Select(e => ArgSpec.Node(e.Id)));
}
