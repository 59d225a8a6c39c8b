using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Every op definition and surface op, collected once from the <see cref="OpFamily"/> classes of this assembly
/// (in name order, so the tables are deterministic). Adding an op is adding a family file, or a field to one.
/// </summary>
public static class OpRegistry
{
    private static readonly Dictionary<string, OpDef> ByName = new(StringComparer.Ordinal);
    private static readonly SurfaceTable SurfaceOps = new();

    static OpRegistry()
    {
        // Every family of this assembly; a type the runtime cannot load is skipped rather than failing them all.
        System.Type[] types;
        try
        {
            types = typeof(OpFamily).Assembly.GetTypes();
        }
        catch (System.Reflection.ReflectionTypeLoadException e)
        {
            types = e.Types.Where(t => t is not null).ToArray()!;
        }
        var families = types
            .Where(t => !t.IsAbstract && typeof(OpFamily).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (OpFamily)Activator.CreateInstance(t)!)
            .ToList();
        foreach (var family in families)
            foreach (var def in family.Definitions())
            {
                if (ByName.TryGetValue(def.Name, out var other) && !ReferenceEquals(other, def))
                    throw new InvalidOperationException($"two definitions of the op '{def.Name}' ({family.GetType().Name})");
                ByName[def.Name] = def;
            }
        foreach (var family in families) family.Surface(SurfaceOps);
    }

    /// <summary>The definition of an IR op by its name (printers and tests; passes hold definitions, not names).</summary>
    public static OpDef Get(string name) =>
        ByName.TryGetValue(name, out var def) ? def : throw new KeyNotFoundException("Unknown op " + name);

    public static bool TryGet(string name, out OpDef def) => ByName.TryGetValue(name, out def!);

    /// <summary>Every definition, in name order.</summary>
    public static IEnumerable<OpDef> All => ByName.Values.OrderBy(d => d.Name, StringComparer.Ordinal);

    /// <summary>The surface ops a <c>.nd</c> file can call.</summary>
    public static SurfaceTable Surface => SurfaceOps;
}
