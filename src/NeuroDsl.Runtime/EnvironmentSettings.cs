using System;
using System.Collections.Concurrent;
using System.Globalization;

namespace NeuroDsl.Runtime;

/// <summary>
/// The NEURODSL_* settings that tune or force kernel shapes. A value that is none of the allowed ones is ignored with
/// one line on stderr (once per variable), never silently: a misspelt NEURODSL_SHAPES=gpus must not look like a
/// GPU-shape run.
/// </summary>
internal static class EnvironmentSettings
{
    private static readonly ConcurrentDictionary<string, bool> Warned = new();

    /// <summary>gpu → true, cpu → false (any case); unset or empty → null; anything else warned about, null.</summary>
    public static bool? Shape(string name) => Read(name) switch
    {
        null => null,
        var v when v.Equals("gpu", StringComparison.OrdinalIgnoreCase) => true,
        var v when v.Equals("cpu", StringComparison.OrdinalIgnoreCase) => false,
        var v => Ignore<bool?>(name, v, "give gpu or cpu"),
    };

    /// <summary>1 → true, 0 → false; unset or empty → null; anything else warned about, null.</summary>
    public static bool? Switch(string name) => Read(name) switch
    {
        null => null,
        "1" => true,
        "0" => false,
        var v => Ignore<bool?>(name, v, "give 1 or 0"),
    };

    /// <summary>A power of two from 1 to <paramref name="max"/>; unset or empty → null; anything else warned about, null.</summary>
    public static int? PowerOfTwo(string name, int max) => Read(name) switch
    {
        null => null,
        var v when int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 && n <= max && (n & (n - 1)) == 0 => n,
        var v => Ignore<int?>(name, v, $"give a power of two from 1 to {max}"),
    };

    private static string? Read(string name) => Environment.GetEnvironmentVariable(name)?.Trim() is { Length: > 0 } v ? v : null;

    private static T Ignore<T>(string name, string value, string expected)
    {
        if (Warned.TryAdd(name + "=" + value, true)) Console.Error.WriteLine($"neurodsl: ignoring {name}={value}: {expected}");
        return default!;
    }
}
