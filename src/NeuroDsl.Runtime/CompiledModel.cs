using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>A named device tensor of a model (parameter, gradient, input, output).</summary>
public sealed record NamedTensor(string Name, long[] Shape, DeviceBuffer Buffer);

/// <summary>
/// The base of every generated model class. It owns the program, the parameter and gradient arenas and the
/// buffers of the plan; the generated subclass binds kernels once and enqueues them in Forward and Backward.
/// </summary>
public abstract partial class CompiledModel : IDisposable
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
    private readonly string _kernelSource;
    private readonly Dictionary<Kernel, (int Index, DeviceBuffer[] Buffers)> _launchInfo = new();
    private readonly HashSet<DeviceBuffer> _checked = new();
    private readonly Dictionary<string, (long Limit, string Use)> _ranges = new(StringComparer.Ordinal);
    private Dictionary<string, (int ProgramLine, List<string> Lines)>? _kernelLines;
    private long _plannedBytes;
    private readonly int _rowLanes;
    private readonly int _elementLanes;
    private readonly int _gpuGroup;

    protected CompiledModel(Device device, ModelSpec spec, string kernelSource, IReadOnlyDictionary<string, long> symbols, ulong seed)
    {
        Device = device;
        Spec = spec;
        Symbols = symbols;
        foreach (var s in spec.Symbols)
            if (!symbols.TryGetValue(s, out var v) || v <= 0 || v > int.MaxValue)
                throw new ArgumentOutOfRangeException(s, $"size symbol {s} of {spec.Name} must be positive");

        // The launches must match the program's shapes even if the device's settings change after this build.
        GpuShapes = device.GpuShapes;
        _rowLanes = device.RowLanes;
        _elementLanes = device.ElementLanes;
        _gpuGroup = device.GpuGroup;
        ConvPixels = device.ConvPixels;
        var options = "-cl-std=CL1.2" + string.Concat(symbols.OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => " -D ND_" + s.Key + "=" + s.Value.ToString(CultureInfo.InvariantCulture)))
            + " -D ND_ROW_LANES=" + _rowLanes.ToString(CultureInfo.InvariantCulture)
            + " -D ND_LANES=" + _elementLanes.ToString(CultureInfo.InvariantCulture)
            + " -D ND_CONV_PIXELS=" + ConvPixels.ToString(CultureInfo.InvariantCulture)
            + " -D ND_GPU=" + (GpuShapes ? "1" : "0");
        // Generated kernels form the model's program; library kernels (GEMM, optimizers) come from the library
        // program, built once per device, so a model build compiles only its own kernels.
        _kernelSource = kernelSource;
        BuildOptions = options;
        _program = ProgramCache.Get(device, "// ---- model " + spec.Name + "\n" + kernelSource, options, spec.Name,
            string.Join(", ", symbols.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Key + "=" + s.Value.ToString(CultureInfo.InvariantCulture))));
        _library = LibraryKernels.Program(device);

        _seed32 = (uint)(seed ^ (seed >> 32));
        ParameterArena = AllocateChecked("the parameters", spec.ArenaElements, false);
        GradientArena = AllocateChecked("the gradients", spec.ArenaElements, false);
        foreach (var p in spec.Parameters)
        {
            _parameters.Add(new NamedTensor(p.Name, p.Shape, Own(ParameterArena.Slice(p.Offset, p.Elements))));
            _gradients.Add(new NamedTensor("grad." + p.Name, p.Shape, Own(GradientArena.Slice(p.Offset, p.Elements))));
        }
        InitializeParameters(seed);
    }

    public Device Device { get; }

    /// <summary>Whether this model's program was built with GPU shapes (ND_GPU): its generated launches size themselves by it.</summary>
    public bool GpuShapes { get; }

    /// <summary>The options its program was built with: the size symbols and the device's kernel settings (ND_ROW_LANES, ND_LANES, ND_GPU, ND_CONV_PIXELS).</summary>
    public string BuildOptions { get; }
    /// <summary>
    /// The most output pixels per work-item this model's program was built with (ND_CONV_PIXELS): its direct convolutions'
    /// launches size themselves by it.
    /// </summary>
    public int ConvPixels { get; }

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

    /// <summary>
    /// Check numerics (slow; default <c>NEURODSL_CHECK_NUMERICS=1</c>): every launch waits for the device and the
    /// buffers it touched are read back, so the first launch that makes a NaN or an infinity throws a
    /// <see cref="NumericsException"/> naming its layer and <c>.nd</c> line.
    /// </summary>
    public bool CheckNumerics { get; set; } = Numerics.FromEnvironment;

    /// <summary>
    /// Where each of the model's kernels comes from, in the order the generated constructor binds them (forward, then
    /// backward), for check-numerics messages: "the forward output 'z' (log at m.nd:4  z = log(x))". The command
    /// line sets it from the compiler's plan; without it the kernels' <c>// m.nd:4</c> comments name the line.
    /// </summary>
    public IReadOnlyList<string>? LaunchSites { get; set; }

    /// <summary>The declared valid values of i32 inputs: 0 ≤ v &lt; Limit, and what takes them.</summary>
    public IReadOnlyDictionary<string, (long Limit, string Use)> InputRanges => _ranges;

    /// <summary>
    /// Declares that an i32 input (a label, an index) takes values 0 ≤ v &lt; <paramref name="limit"/>: an upload
    /// outside it is refused with an <see cref="InvalidDataException"/> naming the value, its position and the range.
    /// </summary>
    public void SetInputRange(string name, long limit, string use)
    {
        Input(name, isInt: true);
        _ranges[name] = (limit, use);
    }

    /// <summary>When true, Backward also computes the gradients of the float inputs (<c>grad.&lt;input&gt;</c>).</summary>
    public bool ComputeInputGradients { get; set; }

    /// <summary>
    /// When false, Forward skips the launches no output needs outside loops over time (the loss's kernels: a
    /// cross-entropy's log-softmax and mean; values only the backward pass reads), as an inference pass that reads only
    /// outputs (a prediction, generation, the benchmark's forward pass) should. Where a model has such launches,
    /// <see cref="ReadLoss"/> and Backward then refuse to run until a Forward with it true. Default true.
    /// </summary>
    public bool ComputeLoss { get; set; } = true;

    /// <summary>Whether the last Forward skipped the launches only the loss needs (<see cref="ComputeLoss"/> false).</summary>
    internal bool LossSkipped { get; private set; }

    /// <summary>The generated Forward's test before the launches only the loss needs: <see cref="ComputeLoss"/>, noted.</summary>
    protected bool LossWanted()
    {
        LossSkipped = !ComputeLoss;
        return ComputeLoss;
    }

    /// <summary>
    /// The generated Backward's first call where Forward has launches only the loss needs: refuses after a Forward that
    /// skipped them (a trace of the launches, which runs nothing, is let through).
    /// </summary>
    protected void RequireLoss()
    {
        if (_trace is null && LossSkipped)
            throw new InvalidOperationException(LossSkippedMessage(Spec.Name, "differentiate"));
    }

    internal static string LossSkippedMessage(string model, string what) =>
        $"{model}: ComputeLoss was false at the last Forward, which skipped the loss, so there is none to {what}; "
        + "set ComputeLoss = true and run Forward (or TrainStep) again";

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
        if (LossSkipped) throw new InvalidOperationException(LossSkippedMessage(Spec.Name, "read"));
        _loss.Read<float>(_lossHost);
        return _lossHost[0];
    }

    public void SetInput(string name, ReadOnlySpan<float> data)
    {
        var t = Input(name, isInt: false);
        t.Buffer.Upload(data);
        _checked.Remove(t.Buffer);
    }

    public void SetInput(string name, ReadOnlySpan<int> data)
    {
        var t = Input(name, isInt: true);
        if (_ranges.TryGetValue(name, out var range)) CheckRange(t, data, range.Limit, range.Use);
        t.Buffer.Upload(data);
    }

    private void CheckRange(NamedTensor t, ReadOnlySpan<int> data, long limit, string use)
    {
        for (var i = 0; i < data.Length; i++)
            if (data[i] < 0 || data[i] >= limit)
                throw new InvalidDataException($"{Spec.Name}: input '{t.Name}' holds {data[i]} at {Position(t.Shape, i, data.Length)}; "
                    + $"{use} takes 0..{limit - 1}");
    }

    /// <summary>Element <paramref name="i"/> as an index into the shape ("[3, 17] of [4, 32]"), or "element i of n".</summary>
    private static string Position(long[] shape, long i, long count)
    {
        var total = 1L;
        foreach (var d in shape) total = d > 0 && total <= long.MaxValue / d ? total * d : -1;
        if (total != count || shape.Length == 0) return $"element {i} of {count}";
        var index = new long[shape.Length];
        var rest = i;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = rest % shape[d];
            rest /= shape[d];
        }
        return $"[{string.Join(", ", index)}] of [{string.Join(", ", shape)}]";
    }

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
        _checked.Clear();
    }

    /// <summary>Copies every parameter from another instance of the same model (e.g. the training one to an evaluation one) on the device.</summary>
    public void CopyParametersFrom(CompiledModel source)
    {
        if (source.Spec.Name != Spec.Name || source.Spec.ArenaElements != Spec.ArenaElements || source.Device != Device)
            throw new ArgumentException($"cannot copy parameters of {source.Spec.Name} into {Spec.Name}");
        ClException.Check(Cl.EnqueueCopyBuffer(Device.Queue, source.ParameterArena.Handle, ParameterArena.Handle, 0, 0,
            (nuint)ParameterArena.Bytes), "clEnqueueCopyBuffer");
        ParametersChanged();
    }

    public void InitializeParameters(ulong seed)
    {
        if (Spec.ArenaElements > Array.MaxLength)
            throw new DeviceMemoryException(string.Create(CultureInfo.InvariantCulture,
                $"{Describe()}: {Spec.ArenaElements:N0} parameters are more than one host array holds ({Array.MaxLength:N0})"));
        var host = new float[Spec.ArenaElements];
        foreach (var p in Spec.Parameters)
            Initializers.Fill(p, host.AsSpan(checked((int)p.Offset), checked((int)p.Elements)), seed);
        ParameterArena.Write<float>(host);
        _checked.Clear();
    }

    private NamedTensor Input(string name, bool isInt)
    {
        if (!_inputs.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Spec.Name} has no input '{name}'");
        if (t.Buffer.IsInt != isInt) throw new ArgumentException($"input '{name}' holds {(t.Buffer.IsInt ? "int" : "float")} values");
        return t;
    }

    // ---- For generated code --------------------------------------------------------------------

    protected DeviceBuffer Allocate(string name, long elements, bool isInt = false) =>
        AllocateChecked(name.StartsWith("slot ", StringComparison.Ordinal) ? "temporaries (" + name + ")" : "'" + name + "'", elements, isInt);

    /// <summary>"XorMlp at N=64": the model and the sizes it was built for, for messages.</summary>
    private string Describe() =>
        Spec.Name + (Symbols.Count == 0 ? "" : " at " + string.Join(", ", Symbols.OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => s.Key + "=" + s.Value.ToString(CultureInfo.InvariantCulture))));

    private static string Bytes(long bytes) => bytes.ToString("N0", CultureInfo.InvariantCulture) + " bytes";

    /// <summary>
    /// Allocates a buffer of the plan after checking, before anything is asked of the driver, that it fits the
    /// device: no larger than its largest allocation, and with what is already allocated no more than its memory.
    /// A driver that still runs out names the model, its sizes and the bytes planned.
    /// </summary>
    private DeviceBuffer AllocateChecked(string what, long elements, bool isInt)
    {
        if (elements < 0 || elements > long.MaxValue / 4 - _plannedBytes / 4 - 1)
            Refuse(string.Create(CultureInfo.InvariantCulture, $"{Describe()}: {what} would hold {elements:N0} elements, more bytes than 64 bits count"));
        var bytes = Math.Max(4, elements * 4);
        var planned = _plannedBytes + bytes;
        if (bytes > Device.MaxAllocationBytes)
            Refuse($"{Describe()} needs {Bytes(bytes)} for {what}, more than the largest buffer {Device.Info.Name} allows "
                + $"({Bytes(Device.MaxAllocationBytes)}); {Bytes(planned)} planned so far. Use a smaller batch");
        if (Device.Info.GlobalMemory > 0 && planned > Device.Info.GlobalMemory)
            Refuse($"{Describe()} needs more than {Device.Info.Name}'s {Bytes(Device.Info.GlobalMemory)} of memory: "
                + $"{Bytes(planned)} planned when allocating {what}. Use a smaller batch");
        try
        {
            var buffer = Own(DeviceBuffer.Allocate(Device, elements, isInt));
            _plannedBytes = planned;
            return buffer;
        }
        catch (ClException e) when (e.Status is -4 or -5 or -6)
        {
            Refuse($"{Describe()}: {Device.Info.Name} ran out of memory ({ClException.Name(e.Status)}) allocating "
                + $"{Bytes(bytes)} for {what}; {Bytes(planned)} planned so far. Use a smaller batch", e);
            throw;
        }
    }

    /// <summary>Frees what the half-built model holds (its constructor will not finish), then throws.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Refuse(string message, Exception? inner = null)
    {
        Dispose();
        throw new DeviceMemoryException(message, inner);
    }

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
        // The plan marks the tiled GEMMs; the device's shape of each runs (LibraryKernels.Variant), chosen by the
        // product's M and N and whether A is transposed (every tiled GEMM's arguments 0, 1 and 3, fixed when the model
        // is built).
        var shape = ReadInPlace(variant, ref args)
            ?? (variant is KernelVariant.TiledGemm or KernelVariant.TiledGemmBatched
                ? LibraryKernels.Variant(name, variant, Device, args[0].Int, args[1].Int, args[3].Int != 0)
                : new GemmShape(name, 1, 1, 1));
        name = shape.Kernel;
        var kernel = new Kernel(Device, LibraryKernels.Names.Contains(name) ? _library : _program, name)
            { GroupWidth = shape.Width, GroupHeight = shape.Height, Tile = (shape.Rows, shape.Columns) };
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
        _lastPack = variant == KernelVariant.PackB ? (kernel, args) : null;
        NotePack(kernel, args);
        _launchInfo[kernel] = (_launchInfo.Count, args.Where(a => a.Kind == KernelArgKind.Buffer && !a.Buffer!.IsInt)
            .Select(a => a.Buffer!).Distinct().ToArray());
        return kernel;
    }

    /// <summary>The kernels the model bound, in order (for tests: the tiled GEMMs' shapes).</summary>
    internal IReadOnlyList<Kernel> BoundKernels => _kernels;

    /// <summary>Check numerics: a buffer the launch reads must be finite already, unless the model checked it.</summary>
    private void BeforeLaunch(Kernel kernel)
    {
        if (!_launchInfo.TryGetValue(kernel, out var info)) return;
        foreach (var buffer in info.Buffers)
        {
            if (_checked.Contains(buffer)) continue;
            var values = buffer.ReadFloats();
            var at = Numerics.FirstNonFinite(values);
            // Not made by a launch of the model (those are checked after they run): an input, a parameter, the optimizer.
            if (at >= 0)
                throw new NumericsException($"{Spec.Name}: {NameOf(buffer) ?? "a buffer"} holds {Numerics.Describe(values[at])} "
                    + $"at element {at} before {Site(kernel, info.Index)} reads it (given to the model, or written by the optimizer)");
            _checked.Add(buffer);
        }
    }

    /// <summary>
    /// Check numerics: the first launch that leaves a non-finite value in a buffer it touched is named, with the buffer
    /// by its name where it has one (a merged kernel writes an output and the temporaries after it).
    /// </summary>
    private void AfterLaunch(Kernel kernel)
    {
        if (!_launchInfo.TryGetValue(kernel, out var info)) return;
        foreach (var buffer in info.Buffers.OrderBy(b => NameOf(b) is null ? 1 : 0))
        {
            var values = buffer.ReadFloats();
            var at = Numerics.FirstNonFinite(values);
            if (at >= 0)
                throw new NumericsException($"{Spec.Name}: the first non-finite value ({Numerics.Describe(values[at])}) appears in "
                    + $"{Site(kernel, info.Index)}: kernel {kernel.Name} wrote it to {NameOf(buffer) ?? "its output"}, element {at}");
            _checked.Add(buffer);
        }
    }

    /// <summary>Where a launch comes from: <see cref="LaunchSites"/>, else the kernel's <c>.nd</c> comments.</summary>
    private string Site(Kernel kernel, int index)
    {
        if (LaunchSites is { } sites && index < sites.Count) return sites[index];
        _kernelLines ??= Numerics.KernelLines(_kernelSource);
        var pass = kernel.Name.Contains("grad", StringComparison.Ordinal) ? "a gradient" : "the forward pass";
        return _kernelLines.TryGetValue(kernel.Name, out var k) && k.Lines.Count > 0
            ? $"{pass} at {string.Join("; ", k.Lines)}"
            : $"launch {index} of the model (library kernel {kernel.Name})";
    }

    private string? NameOf(DeviceBuffer buffer)
    {
        foreach (var (kind, tensors) in new[] { ("input", _inputs.Values), ("output", _outputs.Values),
                     ("parameter", (IEnumerable<NamedTensor>)_parameters), ("gradient", _gradients), ("input gradient", _inputGradients.Values) })
            foreach (var t in tensors)
                if (ReferenceEquals(t.Buffer, buffer)) return $"{kind} '{t.Name}'";
        return null;
    }

    private List<Kernel>? _trace;

    /// <summary>Called after each launch is enqueued (data-parallel training learns from it when a bucket's gradients are written).</summary>
    internal Action? Launched { get; set; }

    /// <summary>
    /// The launches one <see cref="Backward"/> makes, in order, each with the float buffers it binds, recorded without
    /// enqueuing anything: what data-parallel training uses to find the last launch that writes each parameter's gradient.
    /// </summary>
    internal IReadOnlyList<DeviceBuffer[]> TraceBackward()
    {
        _trace = new List<Kernel>();
        try
        {
            Backward();
            return _trace.Select(k => _launchInfo.TryGetValue(k, out var info) ? info.Buffers : Array.Empty<DeviceBuffer>()).ToList();
        }
        finally
        {
            _trace = null;
        }
    }

    private bool Traced(Kernel kernel)
    {
        if (_trace is null) return false;
        _trace.Add(kernel);
        return true;
    }

    /// <summary>Called by generated Forward passes that use dropout: a new mask per training step.</summary>
    protected void AdvanceStep()
    {
        if (_training) StepIndex = _step + 1;
    }

    protected void RegisterInput(string name, DeviceBuffer buffer, long[] shape, bool isInt = false) =>
        _inputs[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterOutput(string name, DeviceBuffer buffer, long[] shape) =>
        _outputs[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterInputGradient(string name, DeviceBuffer buffer, long[] shape) =>
        _inputGradients[name] = new NamedTensor(name, shape, buffer);

    protected void RegisterLoss(DeviceBuffer buffer) => _loss = buffer;

    internal DeviceBuffer? LossBuffer => _loss;

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

    internal DeviceBuffer AllocateState() => AllocateChecked("optimizer state", Spec.ArenaElements, false);

    /// <summary>A small int table an optimizer's kernel reads (the segments of the packs it stores into).</summary>
    internal DeviceBuffer AllocateTable(int[] values)
    {
        var table = AllocateChecked("an optimizer's table", values.Length, true);
        table.Write<int>(values);
        return table;
    }

    public void Dispose()
    {
        foreach (var k in _kernels) k.Dispose();
        // Sub-buffers first, then their arenas.
        foreach (var b in _owned.Where(b => !b.Owned)) b.Dispose();
        foreach (var b in _owned.Where(b => b.Owned)) b.Dispose();
        _kernels.Clear();
        _owned.Clear();
        GC.SuppressFinalize(this);
    }
}
