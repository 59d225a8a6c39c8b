using System.Collections.Generic;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Planning;

/// <summary>Where a buffer's memory comes from.</summary>
public enum StorageKind
{
    /// <summary>An input the caller uploads before a step.</summary>
    Input,

    /// <summary>A slice of the one parameter arena (so an optimizer step is one launch).</summary>
    Param,

    /// <summary>A slice of the gradient arena, laid out like the parameter arena.</summary>
    Grad,

    /// <summary>An activation or backward temporary, allocated once when the model is built.</summary>
    Temp,

    /// <summary>
    /// A parameter in the tiled GEMM's packed layout, in memory of its own: its pack launch (<see cref="Launch.KeepsPacked"/>)
    /// runs again only once the parameters have changed (an optimizer step, a load), so a forward pass in between reads it
    /// as it is.
    /// </summary>
    Packed,
}

/// <summary>One device buffer of the plan. Views share their source's buffer; constants have none.</summary>
/// <param name="Slot">The shared slot a temporary lives in (see <see cref="BufferPlanner"/>), or -1 for its own memory.</param>
public sealed record BufferPlan(int Index, string Name, Dim Elements, DType DType, StorageKind Kind, long ArenaOffset, int Slot = -1);

/// <summary>A parameter's place in the arenas, with what the runtime needs to initialize it.</summary>
public sealed record ParamSlot(string Name, Shape Shape, long Offset, InitSpec Init, long FanIn, long FanOut, bool Trainable, long[]? Mask = null);

/// <summary>A value the model keeps current and passes to the kernels that read it.</summary>
public enum RuntimeScalar
{
    /// <summary>1 in training mode, 0 in evaluation mode (dropout, batch-norm statistics).</summary>
    Training,

    /// <summary>The model's random seed (dropout masks).</summary>
    Seed,

    /// <summary>The forward pass counter: a new dropout mask each training step.</summary>
    Step,

    /// <summary>A loop's step index t, set before each launch of the loop (a <c>scan</c>).</summary>
    Time,
}

/// <summary>
/// A kernel argument: a buffer of the plan, an integer size fixed when the model is built, or a runtime value the
/// model keeps current.
/// </summary>
public sealed record LaunchArg(int Buffer, Dim? Int, RuntimeScalar? Runtime = null)
{
    public static LaunchArg Of(int buffer) => new(buffer, null);
    public static LaunchArg Size(Dim value) => new(-1, value);
    public static LaunchArg RuntimeValue(RuntimeScalar value) => new(-1, null, value);
}

/// <summary>
/// The work-groups of a GPU form that needs its own (reqd_work_group_size(<paramref name="WorkItems"/>, 1, 1)): one per
/// <paramref name="Rows"/> of the launch's first GPU dimension, so ceil(Gpu[0] / Rows) × WorkItems work-items along it.
/// </summary>
public sealed record GpuGroups(long Rows, int WorkItems);

/// <summary>
/// A library kernel with one shape per kind of device, the same arguments in each: the runtime runs the device's.
/// The names match the runtime's <c>KernelVariant</c>, which the generated code names.
/// </summary>
public enum KernelVariant
{
    /// <summary>The kernel the launch names, with work-groups of one.</summary>
    None,

    /// <summary>
    /// The register-tiled GEMM: one work-item per tile on a CPU, a work-group per tile on a GPU, the tile tuned per
    /// device; the launch's Global is C's extents (M, N), which the runtime divides by the device's tile.
    /// </summary>
    TiledGemm,

    /// <summary>The batched register-tiled GEMM, shaped as <see cref="TiledGemm"/>.</summary>
    TiledGemmBatched,

    /// <summary>
    /// The pack of a tiled GEMM's B into panels right before that GEMM, where B is not transposed and its rows are whole
    /// vectors of 16 floats: B is kept alive through the GEMM (<see cref="BufferPlanner"/>), so a device whose tile reads B
    /// in place for the product's sizes skips the pack and binds B itself. (Last, so code generated before it keeps its
    /// values.)
    /// </summary>
    PackB,
}

/// <summary>One kernel launch: what it runs, on what, how wide, and the `.nd` line it came from.</summary>
/// <param name="Tile">When set: work-groups of one work-item, global size ceil(Global[d] / Tile[d]).</param>
/// <param name="AlsoCovers">Other source lines a fused kernel computes (line, text).</param>
/// <param name="Rows">A row kernel: Global[0] work-groups of the device's row lanes.</param>
/// <param name="Variant">Whether <paramref name="Kernel"/> stands for a library kernel with a shape per device.</param>
/// <param name="Lanes">An elementwise kernel whose work-items take the device's ND_LANES elements each: Global[0] / ND_LANES
/// work-items.</param>
/// <param name="KeepsPacked">A pack of a parameter into a <see cref="StorageKind.Packed"/> buffer: the runtime skips it
/// while the parameters are as they were when it last ran.</param>
/// <param name="Gpu">The work-items of the kernel's GPU form (<c>#if ND_GPU</c>, or its only form), launched instead on a
/// device with GPU shapes in whole work-groups of its GPU group; null where the kernel has no GPU form.</param>
/// <param name="ByConvPixels">The CPU global sizes of a kernel with a form per ND_CONV_PIXELS (the direct convolution),
/// largest minimum first: the first whose minimum the program's value reaches is launched, else <paramref name="Global"/>;
/// null where the kernel has one CPU form.</param>
/// <param name="GpuGroup">The GPU form's own work-groups (<see cref="NodeLaunch.GpuGroup"/>), or null where the driver picks.</param>
/// <param name="GpuRows">The GPU form is a row kernel: Gpu[0] work-groups of the device's row lanes.</param>
/// <param name="LossOnly">A forward launch no output needs (the loss's kernels, values only the backward pass reads):
/// skipped by a forward pass that does not compute the loss (the runtime's <c>ComputeLoss</c>).</param>
public sealed record Launch(string Kernel, IReadOnlyList<LaunchArg> Args, IReadOnlyList<Dim> Global,
    int Line, string SourceLine, IReadOnlyList<int> Nodes, bool InputGradientOnly, IReadOnlyList<long>? Tile = null,
    IReadOnlyList<(int Line, string Text)>? AlsoCovers = null, bool Rows = false, KernelVariant Variant = KernelVariant.None, ScanLoop? Loop = null,
    bool Lanes = false, bool KeepsPacked = false, IReadOnlyList<Dim>? Gpu = null, bool GpuRows = false,
    IReadOnlyList<ConvPixelsGlobal>? ByConvPixels = null, GpuGroups? GpuGroup = null, bool LossOnly = false);

/// <summary>
/// The global size of a kernel's CPU form compiled where the program's ND_CONV_PIXELS is at least <paramref name="Least"/>
/// (its <c>#if ND_CONV_PIXELS &gt;= Least</c> branch): fewer work-items where each computes more output pixels.
/// </summary>
public sealed record ConvPixelsGlobal(int Least, IReadOnlyList<Dim> Global);

/// <summary>
/// A loop over time (a <c>scan</c>): the consecutive launches that carry it run once per step, in order, with the step
/// index <c>t</c> (the runtime argument <see cref="RuntimeScalar.Time"/>) counting down when <paramref name="Reverse"/> is set.
/// </summary>
public sealed record ScanLoop(int Id, Dim Steps, bool Reverse);

/// <summary>
/// An OpenCL kernel the compiler generated: its name, the comment it carries (the <c>.nd</c> lines it computes, and
/// whom it serves when several launches share it) and its code.
/// </summary>
public sealed record KernelSource(string Name, string Comment, string Body)
{
    /// <summary>The kernel's text: the comment as <c>//</c> lines above the code.</summary>
    public string Code => (Comment.Length == 0 ? "" : "// " + Comment + "\n") + Body;
}

/// <summary>A named tensor of the model's interface (input, output, gradient) and its buffer.</summary>
public sealed record NamedBuffer(string Name, int Buffer, Shape Shape, DType DType);

/// <summary>
/// The execution plan of one model: buffers allocated once, the launch lists of the forward and backward
/// passes, and the generated kernels. The C# emitter transcribes it; nothing is decided after this.
/// </summary>
public sealed class Plan
{
    public List<ParamSlot> Params { get; } = new();
    public long ArenaElements { get; set; }

    /// <summary>Elements of the arena prefix that holds the trainable parameters.</summary>
    public long TrainableElements { get; set; } = -1;
    public List<BufferPlan> Buffers { get; } = new();

    /// <summary>Sizes of the shared slots temporaries are planned into.</summary>
    public List<Dim> Slots { get; } = new();
    public List<Launch> Forward { get; } = new();
    public List<Launch> Backward { get; } = new();
    public List<KernelSource> Kernels { get; } = new();

    /// <summary>Helper functions the kernels call (<see cref="Ops.OpDef.Prelude"/>), each once, in first-use order.</summary>
    public List<string> Preludes { get; } = new();
    public List<NamedBuffer> Inputs { get; } = new();
    public List<NamedBuffer> Outputs { get; } = new();
    public List<NamedBuffer> InputGradients { get; } = new();
    public NamedBuffer? Loss { get; set; }

    /// <summary>Fused attention sites (<see cref="Fusion.AttentionFuser"/>): the value and the scores it does not store.</summary>
    public List<(string Name, Shape Scores)> FusedAttention { get; } = new();

    /// <summary>Arena alignment in elements: 64 floats = 256 bytes, enough for sub-buffer origins on every device seen.</summary>
    public const long ArenaAlignment = 64;
}
