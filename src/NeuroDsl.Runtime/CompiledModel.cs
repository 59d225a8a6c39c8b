using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>A named device tensor of a model (parameter, gradient, input, output).</summary>
public sealed record NamedTensor(string Name, long[] Shape, DeviceBuffer Buffer);

/// <summary>
/// The base of every generated model class. It owns the program, the parameter and gradient arenas and the
/// buffers of the plan; the generated subclass binds kernels once and enqueues them in Forward and Backward.
/// </summary>
public abstract class CompiledModel : IDisposable
{
    private readonly nint _program;
    private readonly nint _library;
    private readonly List<DeviceBuffer> _owned = new();
    private readonly List<Kernel> _kernels = new();
    private readonly Dictionary<string, NamedTensor> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NamedTensor> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NamedTensor> _inputGradients = new(StringComparer.Ordinal);
    private readonly List<NamedTensor> _parameters = new();
    private readonly List<NamedTensor> _gradients = new();
    private readonly float[] _lossHost = new float[1];
    private DeviceBuffer? _loss;
    private readonly List<(Kernel Kernel, int Index)> _trainingArgs = new();
    private readonly List<(Kernel Kernel, int Index)> _stepArgs = new();
    private readonly uint _seed32;
    private bool _training = true;
    private uint _step;

    protected CompiledModel(Device device, ModelSpec spec, string kernelSource, IReadOnlyDictionary<string, long> symbols, ulong seed)
    {
        Device = device;
        Spec = spec;
        Symbols = symbols;
        foreach (var s in spec.Symbols)
            if (!symbols.TryGetValue(s, out var v) || v <= 0 || v > int.MaxValue)
                throw new ArgumentOutOfRangeException(s, $"size symbol {s} of {spec.Name} must be positive");

        var options = "-cl-std=CL1.2" + string.Concat(symbols.OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => " -D ND_" + s.Key + "=" + s.Value.ToString(CultureInfo.InvariantCulture)))
            + " -D ND_ROW_LANES=" + device.RowLanes.ToString(CultureInfo.InvariantCulture);
        // Generated kernels form the model's program; library kernels (GEMM, optimizers) come from the library
        // program, built once per device, so a model build compiles only its own kernels.
        _program = ProgramCache.Get(device, "// ---- model " + spec.Name + "\n" + kernelSource, options, spec.Name);
        _library = LibraryKernels.Program(device);

        _seed32 = (uint)(seed ^ (seed >> 32));
        ParameterArena = Own(DeviceBuffer.Allocate(device, spec.ArenaElements));
        GradientArena = Own(DeviceBuffer.Allocate(device, spec.ArenaElements));
        foreach (var p in spec.Parameters)
        {
            _parameters.Add(new NamedTensor(p.Name, p.Shape, Own(ParameterArena.Slice(p.Offset, p.Elements))));
            _gradients.Add(new NamedTensor("grad." + p.Name, p.Shape, Own(GradientArena.Slice(p.Offset, p.Elements))));
        }
        InitializeParameters(seed);
    }

    public Device Device { get; }
    public ModelSpec Spec { get; }
    public IReadOnlyDictionary<string, long> Symbols { get; }

    /// <summary>All parameters in one buffer (slices are the named parameters); what an optimizer updates.</summary>
    public DeviceBuffer ParameterArena { get; }

    public DeviceBuffer GradientArena { get; }

    /// <summary>
    /// Training mode (the default): batch norm uses batch statistics and updates its running ones, dropout drops.
    /// Evaluation mode uses the running statistics and passes values through. Changing it rebinds an argument
    /// of the affected kernels; nothing else happens per step.
    /// </summary>
    public bool Training
    {
        get => _training;
        set
        {
            if (_training == value) return;
            _training = value;
            foreach (var (kernel, index) in _trainingArgs) kernel.Set(index, KernelArg.Of(value ? 1 : 0));
        }
    }

    /// <summary>Forward passes in training mode so far; with the seed it selects the dropout masks.</summary>
    public uint StepIndex
    {
        get => _step;
        set
        {
            _step = value;
            foreach (var (kernel, index) in _stepArgs) kernel.Set(index, KernelArg.Of((int)value));
        }
    }

    /// <summary>When true, Backward also computes the gradients of the float inputs (<c>grad.&lt;input&gt;</c>).</summary>
    public bool ComputeInputGradients { get; set; }

    public IReadOnlyList<NamedTensor> Parameters => _parameters;
    public IReadOnlyList<NamedTensor> Gradients => _gradients;
    public IReadOnlyCollection<NamedTensor> Inputs => _inputs.Values;
    public IReadOnlyCollection<NamedTensor> Outputs => _outputs.Values;
    public IReadOnlyCollection<NamedTensor> InputGradients => _inputGradients.Values;

    /// <summary>Device bytes this instance allocated (arenas and planned buffers).</summary>
    public long AllocatedBytes => _owned.Where(b => b.Owned).Sum(b => b.Bytes);

    /// <summary>Kernel launches one <see cref="Forward"/> and one <see cref="Backward"/> enqueue (counted while running).</summary>
    public long LaunchCount { get; private set; }

    public abstract void Forward();

    public abstract void Backward();

    public void Step(Optimizer optimizer) => optimizer.Step(this);

    /// <summary>Reads the loss scalar: the one synchronization of a training step.</summary>
    public float ReadLoss()
    {
        if (_loss is null) throw new InvalidOperationException($"{Spec.Name} declares no loss");
        _loss.Read<float>(_lossHost);
        return _lossHost[0];
    }

    public void SetInput(string name, ReadOnlySpan<float> data) => Input(name, isInt: false).Buffer.Write(data);

    public void SetInput(string name, ReadOnlySpan<int> data) => Input(name, isInt: true).Buffer.Write(data);

    /// <summary>Reads any named tensor: an output, input, parameter, parameter gradient or input gradient.</summary>
    public float[] Read(string name)
    {
        var t = Find(name) ?? throw new KeyNotFoundException($"{Spec.Name} has no tensor named '{name}'");
        if (t.Buffer.IsInt)
        {
            var ints = new int[t.Buffer.Elements];
            t.Buffer.Read<int>(ints);
            return ints.Select(i => (float)i).ToArray();
        }
        return t.Buffer.ReadFloats();
    }

    public NamedTensor? Find(string name) =>
        _outputs.GetValueOrDefault(name) ?? _inputs.GetValueOrDefault(name) ?? _inputGradients.GetValueOrDefault(name)
        ?? _parameters.FirstOrDefault(p => p.Name == name) ?? _gradients.FirstOrDefault(g => g.Name == name);

    /// <summary>Overwrites a parameter (loading weights). Not for the hot path.</summary>
    public void WriteParameter(string name, ReadOnlySpan<float> values)
    {
        var p = _parameters.FirstOrDefault(x => x.Name == name) ?? throw new KeyNotFoundException($"{Spec.Name} has no parameter '{name}'");
        p.Buffer.Write(values);
    }

    /// <summary>Copies every parameter from another instance of the same model (e.g. the training one to an evaluation one) on the device.</summary>
    public void CopyParametersFrom(CompiledModel source)
    {
        if (source.Spec.Name != Spec.Name || source.Spec.ArenaElements != Spec.ArenaElements || source.Device != Device)
            throw new ArgumentException($"cannot copy parameters of {source.Spec.Name} into {Spec.Name}");
        ClException.Check(Cl.EnqueueCopyBuffer(Device.Queue, source.ParameterArena.Handle, ParameterArena.Handle, 0, 0,
            (nuint)ParameterArena.Bytes), "clEnqueueCopyBuffer");
    }

    public void InitializeParameters(ulong seed)
    {
        var host = new float[Spec.ArenaElements];
        foreach (var p in Spec.Parameters)
            Initializers.Fill(p, host.AsSpan((int)p.Offset, (int)p.Elements), seed);
        ParameterArena.Write<float>(host);
    }

    private NamedTensor Input(string name, bool isInt)
    {
        if (!_inputs.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Spec.Name} has no input '{name}'");
        if (t.Buffer.IsInt != isInt) throw new ArgumentException($"input '{name}' holds {(t.Buffer.IsInt ? "int" : "float")} values");
        return t;
    }

    // ---- For generated code --------------------------------------------------------------------

    protected DeviceBuffer Allocate(string name, long elements, bool isInt = false) =>
        Own(DeviceBuffer.Allocate(Device, elements, isInt));

    protected DeviceBuffer ParameterSlice(int index) => _parameters[index].Buffer;

    protected DeviceBuffer GradientSlice(int index) => _gradients[index].Buffer;

    protected static KernelArg Size(long value) => KernelArg.Of(checked((int)value));

    protected static KernelArg TrainingFlag => KernelArg.Training;
    protected static KernelArg SeedValue => KernelArg.Seed;
    protected static KernelArg StepCounter => KernelArg.Step;

    protected Kernel Kernel(string name, params KernelArg[] args) => Kernel(name, KernelVariant.None, args);

    /// <summary>A kernel bound to its arguments; a <paramref name="variant"/> runs in the device's shape.</summary>
    protected Kernel Kernel(string name, KernelVariant variant, params KernelArg[] args)
    {
        // The plan marks the tiled GEMMs; the device's shape of each runs (LibraryKernels.Variant).
        (name, var width) = LibraryKernels.Variant(name, variant, Device);
        var kernel = new Kernel(Device, LibraryKernels.Names.Contains(name) ? _library : _program, name) { GroupWidth = width };
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i].Kind)
            {
                case KernelArgKind.Training:
                    _trainingArgs.Add((kernel, i));
                    kernel.Set(i, KernelArg.Of(_training ? 1 : 0));
                    break;
                case KernelArgKind.Seed:
                    kernel.Set(i, KernelArg.Of((int)_seed32));
                    break;
                case KernelArgKind.Step:
                    _stepArgs.Add((kernel, i));
                    kernel.Set(i, KernelArg.Of((int)_step));
                    break;
                default:
                    kernel.Set(i, args[i]);
                    break;
            }
        }
        _kernels.Add(kernel);
        return kernel;
    }

    /// <summary>Called by generated Forward passes that use dropout: a new mask per training step.</summary>
    protected void AdvanceStep()
    {
        if (_training) StepIndex = _step + 1;
    }

    protected void Launch(Kernel kernel, long global0, long global1 = 0)
    {
        if (Profiler.Enabled)
        {
            Profiler.Time(Device, kernel.Name, () => kernel.Launch(global0, global1));
        }
        else kernel.Launch(global0, global1);
        LaunchCount++;
    }

    /// <summary>A 3-D launch: a batch of 2-D ranges (the batched matrix products).</summary>
    protected void Launch(Kernel kernel, long global0, long global1, long global2)
    {
        if (Profiler.Enabled) Profiler.Time(Device, kernel.Name, () => kernel.Launch(global0, global1, global2));
        else kernel.Launch(global0, global1, global2);
        LaunchCount++;
    }

    /// <summary>A batch of 2-D tiled launches in one 3-D launch (the batched register-tiled GEMM).</summary>
    protected void LaunchTiles(Kernel kernel, long tiles0, long tiles1, long tiles2)
    {
        if (Profiler.Enabled) Profiler.Time(Device, kernel.Name, () => kernel.LaunchLocal(tiles0, tiles1, tiles2));
        else kernel.LaunchLocal(tiles0, tiles1, tiles2);
        LaunchCount++;
    }

    /// <summary>
    /// A row kernel: one work-group of <see cref="Device.RowLanes"/> work-items per row; with one lane, a plain range of
    /// rows whose work-groups the driver picks.
    /// </summary>
    protected void LaunchRows(Kernel kernel, long rows)
    {
        var lanes = Device.RowLanes;
        void Go()
        {
            if (lanes == 1) kernel.Launch(rows);
            else kernel.LaunchGroups(rows, lanes);
        }
        if (Profiler.Enabled) Profiler.Time(Device, kernel.Name, Go);
        else Go();
        LaunchCount++;
    }

    /// <summary>A 2-D launch with work-groups of one work-item (the register-tiled kernels).</summary>
    protected void LaunchTiles(Kernel kernel, long tiles0, long tiles1)
    {
        if (Profiler.Enabled) Profiler.Time(Device, kernel.Name, () => kernel.LaunchLocal(tiles0, tiles1));
        else kernel.LaunchLocal(tiles0, tiles1);
        LaunchCount++;
    }

    protected void RegisterInput(string name, DeviceBuffer buffer, long[] shape, bool isInt = false) =>
        _inputs[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterOutput(string name, DeviceBuffer buffer, long[] shape) =>
        _outputs[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterInputGradient(string name, DeviceBuffer buffer, long[] shape) =>
        _inputGradients[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterLoss(DeviceBuffer buffer) => _loss = buffer;

    private DeviceBuffer Own(DeviceBuffer b)
    {
        _owned.Add(b);
        return b;
    }

    /// <summary>Creates a kernel from the model's program, for optimizers that run over the arenas.</summary>
    internal Kernel LibraryKernel(string name)
    {
        var kernel = new Kernel(Device, _library, name);
        _kernels.Add(kernel);
        return kernel;
    }

    internal DeviceBuffer AllocateState() => Own(DeviceBuffer.Allocate(Device, Spec.ArenaElements));

    public void Dispose()
    {
        foreach (var k in _kernels) k.Dispose();
        // Sub-buffers first, then their arenas.
        foreach (var b in _owned.Where(b => !b.Owned)) b.Dispose();
        foreach (var b in _owned.Where(b => b.Owned)) b.Dispose();
        GC.SuppressFinalize(this);
    }
}
