using System;

namespace NeuroDsl.Cli;

/// <summary>A value made on first use and disposed with its owner, if it was ever made.</summary>
internal sealed class Deferred<T> : IDisposable where T : class, IDisposable
{
    private readonly Lazy<T> _value;

    public Deferred(Func<T> create) => _value = new Lazy<T>(create);

    public T Value => _value.Value;

    public void Dispose()
    {
        if (_value.IsValueCreated) _value.Value.Dispose();
    }
}
