using System.Collections.Generic;

namespace NeuroDsl.Runtime;

/// <summary>A parameter of a generated model: its checkpoint name, shape, arena offset and initializer.</summary>
public sealed record ParameterSpec(string Name, long[] Shape, long Offset, string Init, double A, double B,
    long FanIn, long FanOut, bool Trainable, int[]? Mask = null)
{
    public long Elements
    {
        get
        {
            var n = 1L;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }
}

/// <summary>What a generated class tells its base: the parameter layout and the size symbols it takes.</summary>
public sealed class ModelSpec
{
    public ModelSpec(string name, long arenaElements, ParameterSpec[] parameters, string[] symbols, long trainableElements = -1)
    {
        Name = name;
        ArenaElements = arenaElements;
        TrainableElements = trainableElements < 0 ? arenaElements : trainableElements;
        Parameters = parameters;
        Symbols = symbols;
    }

    public string Name { get; }
    public long ArenaElements { get; }

    /// <summary>The arena prefix holding trainable parameters; frozen ones and running statistics follow it.</summary>
    public long TrainableElements { get; }
    public IReadOnlyList<ParameterSpec> Parameters { get; }
    public IReadOnlyList<string> Symbols { get; }
}
