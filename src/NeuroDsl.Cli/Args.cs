using System;
using System.Collections.Generic;
using System.Globalization;

namespace NeuroDsl.Cli;

/// <summary>A small parser for <c>command FILE… --flag value --switch</c> command lines.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public Args(IEnumerable<string> args, ISet<string> switches)
    {
        var list = new List<string>(args);
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal) || (a.StartsWith('-') && a.Length == 2 && !char.IsDigit(a[1])))
            {
                var name = a.TrimStart('-');
                var eq = name.IndexOf('=');
                if (eq >= 0) _options[name[..eq]] = name[(eq + 1)..];
                else if (switches.Contains(name)) _options[name] = null;
                else if (i + 1 < list.Count) _options[name] = list[++i];
                else throw new UsageException($"option {a} needs a value");
            }
            else Positional.Add(a);
        }
    }

    public List<string> Positional { get; } = new();

    public bool Has(string name)
    {
        _used.Add(name);
        return _options.ContainsKey(name);
    }

    public string? Get(string name, string? alias = null)
    {
        _used.Add(name);
        if (alias is not null) _used.Add(alias);
        return _options.TryGetValue(name, out var v) ? v : alias is not null && _options.TryGetValue(alias, out var w) ? w : null;
    }

    public int Int(string name, int fallback)
    {
        var v = Get(name);
        if (v is null) return fallback;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && i > 0
            ? i : throw new UsageException($"--{name} takes a positive integer, not '{v}'");
    }

    public double Double(string name, double fallback)
    {
        var v = Get(name);
        if (v is null) return fallback;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d > 0
            ? d : throw new UsageException($"--{name} takes a positive number, not '{v}'");
    }

    /// <summary>Rejects options the command did not ask about (typos should not pass silently).</summary>
    public void CheckUnknown()
    {
        foreach (var key in _options.Keys)
            if (!_used.Contains(key)) throw new UsageException($"unknown option --{key}");
    }
}

internal sealed class UsageException : Exception
{
    public UsageException(string message) : base(message)
    {
    }
}
