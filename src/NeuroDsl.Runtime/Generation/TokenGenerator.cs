using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime.Generation;

/// <summary>
/// Decoding one token at a time with a model instance built for batch 1 whose token input is i32 [1, T] and whose
/// logits output is [1, T, V]. Two forms:
/// <list type="bullet">
/// <item>Carried state (a recurrent model): every f32 input named <c>X_0</c> with an output <c>X_n</c> of the same shape
/// is state (PyTorch's <c>lstm(x, (h_0, c_0))</c> → <c>h_n, c_n</c>). The instance is built at T = 1; each token is one
/// forward pass, after which the outputs are copied into the inputs on the device, so the prefix is never run
/// again.</item>
/// <item>A window (a causal model without carried state): the last T tokens are the input, left-aligned, and the logits
/// at the last filled position are read.</item>
/// </list>
/// Either way one row of logits (V floats) is read back per token; the host samples from it (<see cref="Sampler"/>).
/// The generator sets the model to evaluation without the loss (<c>Training</c> and <c>ComputeLoss</c> false) and
/// leaves it so: give it an instance of its own, not one still being trained.
/// </summary>
public sealed class TokenGenerator
{
    private readonly CompiledModel _model;
    private readonly NamedTensor _tokens;
    private readonly NamedTensor _logits;
    private readonly List<(NamedTensor Initial, NamedTensor Final)> _state = new();
    private readonly List<int> _history = new();
    private readonly int[] _window;
    private readonly float[] _logitsHost;

    public TokenGenerator(CompiledModel model)
    {
        _model = model;
        var ints = model.Inputs.Where(i => i.Buffer.IsInt && i.Shape.Length == 2).ToList();
        _tokens = ints.FirstOrDefault() ?? throw new InvalidDataException($"{model.Spec.Name} has no token input i32[N, T] to generate from");
        if (_tokens.Shape[0] != 1) throw new ArgumentException($"{model.Spec.Name}: a generator needs an instance built for batch 1");
        _logits = model.Outputs.FirstOrDefault(o => o.Shape.Length == 3 && o.Shape[1] == _tokens.Shape[1])
                  ?? throw new InvalidDataException($"{model.Spec.Name} has no logits output [N, T, V] beside its token input '{_tokens.Name}'");
        foreach (var input in model.Inputs.Where(i => !i.Buffer.IsInt && i.Name.EndsWith("_0", StringComparison.Ordinal)))
        {
            var final = model.Outputs.FirstOrDefault(o => o.Name == input.Name[..^2] + "_n");
            if (final is null) continue;
            if (!final.Shape.SequenceEqual(input.Shape))
                throw new InvalidDataException($"{model.Spec.Name}: state input '{input.Name}' is [{string.Join(", ", input.Shape)}] "
                    + $"but output '{final.Name}' is [{string.Join(", ", final.Shape)}]");
            _state.Add((input, final));
        }
        if (_state.Count > 0 && _tokens.Shape[1] != 1)
            throw new ArgumentException($"{model.Spec.Name} carries state ({string.Join(", ", _state.Select(s => s.Initial.Name))}): build it at T = 1");
        Window = (int)_tokens.Shape[1];
        Vocabulary = (int)_logits.Shape[2];
        _window = new int[Window];
        _logitsHost = new float[_logits.Buffer.Elements];
        model.Training = false;
        model.ComputeLoss = false; // it reads logits only (both stay so: the model is the generator's)
        // Inputs the generator does not drive (a training target) hold zeros, which every index input accepts.
        foreach (var other in model.Inputs.Where(i => i != _tokens)) other.Buffer.Fill(0f);
    }

    public int Vocabulary { get; }

    /// <summary>The tokens one forward pass reads: 1 with carried state, else the model's context length.</summary>
    public int Window { get; }

    /// <summary>True when the model's state is carried from call to call (input <c>X_0</c>, output <c>X_n</c>).</summary>
    public bool CarriesState => _state.Count > 0;

    /// <summary>The state inputs that are carried, by name.</summary>
    public IReadOnlyList<string> StateNames => _state.Select(s => s.Initial.Name).ToList();

    /// <summary>Forward passes run so far (one per token fed).</summary>
    public long Passes { get; private set; }

    /// <summary>Starts a new sequence: zero state, empty window.</summary>
    public void Reset()
    {
        foreach (var (initial, _) in _state) initial.Buffer.Fill(0f);
        _history.Clear();
    }

    /// <summary>Feeds one token and returns the logits of the next one (one row, read back from the device).</summary>
    public float[] Feed(int token)
    {
        if (token < 0 || token >= Vocabulary) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is outside 0..{Vocabulary - 1}");
        int position;
        if (CarriesState)
        {
            _window[0] = token;
            position = 0;
        }
        else
        {
            _history.Add(token);
            var start = Math.Max(0, _history.Count - Window);
            Array.Clear(_window);
            _history.CopyTo(start, _window, 0, _history.Count - start);
            position = _history.Count - start - 1;
        }
        _model.SetInput(_tokens.Name, _window);
        _model.Forward();
        Passes++;
        // The new state becomes the next call's initial state, device to device, queued behind the forward pass.
        foreach (var (initial, final) in _state)
            ClException.Check(Cl.EnqueueCopyBuffer(_model.Device.Queue, final.Buffer.Handle, initial.Buffer.Handle, 0, 0,
                (nuint)initial.Buffer.Bytes), "clEnqueueCopyBuffer");
        _logits.Buffer.Read<float>(_logitsHost);
        return _logitsHost.AsSpan(position * Vocabulary, Vocabulary).ToArray();
    }

    /// <summary>
    /// Feeds the prompt, then samples <paramref name="length"/> tokens (temperature 0: greedy), each fed back in.
    /// Returns the sampled tokens.
    /// </summary>
    public int[] Generate(IReadOnlyList<int> prompt, int length, double temperature, int topK, ulong seed)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty");
        Reset();
        var rng = new SplitMix64(seed);
        float[] logits = Array.Empty<float>();
        foreach (var t in prompt) logits = Feed(t);
        var result = new int[length];
        for (var i = 0; i < length; i++)
        {
            result[i] = Sampler.Pick(logits, temperature, topK, ref rng);
            if (i + 1 < length) logits = Feed(result[i]);
        }
        return result;
    }
}
