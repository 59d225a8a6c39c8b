using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Compiler.Ir;

/// <summary>A static tensor shape whose dimensions may be symbolic. Rank 0 is a scalar.</summary>
public sealed class Shape : IEquatable<Shape>
{
    public static readonly Shape Scalar = new(Array.Empty<Dim>());

    public Shape(IReadOnlyList<Dim> dims) => Dims = dims.ToArray();

    public Shape(params long[] dims) => Dims = dims.Select(d => (Dim)d).ToArray();

    public IReadOnlyList<Dim> Dims { get; }
    public int Rank => Dims.Count;
    public Dim this[int axis] => Dims[axis];

    public Dim Numel => Dims.Aggregate((Dim)1, (a, d) => a * d);

    /// <summary>NumPy broadcasting: align right, each pair equal or one of them 1. Null when they do not broadcast.</summary>
    public static Shape? Broadcast(Shape a, Shape b)
    {
        var rank = Math.Max(a.Rank, b.Rank);
        var dims = new Dim[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - a.Rank ? (Dim)1 : a[i - (rank - a.Rank)];
            var db = i < rank - b.Rank ? (Dim)1 : b[i - (rank - b.Rank)];
            if (da == db || db == (Dim)1) dims[i] = da;
            else if (da == (Dim)1) dims[i] = db;
            else return null;
        }
        return new Shape(dims);
    }

    public long[] Eval(IReadOnlyDictionary<string, long> symbols) => Dims.Select(d => d.Eval(symbols)).ToArray();

    public bool Equals(Shape? other) => other is not null && Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode() => Dims.Aggregate(17, (h, d) => unchecked(h * 31 + d.GetHashCode()));

    public override string ToString() => "[" + string.Join(", ", Dims) + "]";

    /// <summary>Row-major strides in elements (a size symbol stays symbolic).</summary>
    public Dim[] Strides()
    {
        var strides = new Dim[Rank];
        Dim s = 1;
        for (var d = Rank - 1; d >= 0; d--)
        {
            strides[d] = s;
            s = s * this[d];
        }
        return strides;
    }

    /// <summary>Row-major strides of an evaluated shape (the float64 reference's).</summary>
    public static long[] Strides(long[] shape)
    {
        var strides = new long[shape.Length];
        var s = 1L;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= shape[d];
        }
        return strides;
    }
}

public enum DType
{
    F32,
    I32,
}
