using System.Collections.Generic;

namespace NeuroDsl.Runtime;

/// <summary>
/// A parameter the forward pass keeps packed in the GEMM's panels (kernels/gemm.cl, <c>StorageKind.Packed</c>): the
/// pack launch <paramref name="Kernel"/> writes the weight at <paramref name="Offset"/> of the arena, B of a product
/// over <paramref name="K"/> × <paramref name="N"/> (<paramref name="Transposed"/>: the weight is [N, K]), into
/// <paramref name="Packed"/>. An optimizer rewrites it after its update (kernels/optim.cl), for all of them in one launch.
/// </summary>
internal sealed record KeptPack(Kernel Kernel, long Offset, int K, int N, bool Transposed, DeviceBuffer Packed);

// The packs of a GEMM's B: the kept packs (when each ran last, which parameters they pack, for the optimizers that
// write them), and the packs a product reading B in place makes unneeded.
public abstract partial class CompiledModel
{
    /// <summary>The library kernel that packs a GEMM's B into panels.</summary>
    private const string PackKernel = "nd_gemm_pack_b_f32";

    // Bumped by every change of the parameters the host does not see as a write of the arena (optimizer kernels, copies).
    private long _deviceWrites;
    private readonly Dictionary<Kernel, (long Writes, long DeviceWrites)> _packedAt = new();
    private readonly Dictionary<Kernel, KeptPack> _packsOfParameters = new();
    private readonly List<KeptPack> _keptPacks = new();

    // The pack of a GEMM's B bound last (KernelVariant.PackB), while the next kernel is not yet bound, and the packs whose
    // GEMM reads B in place instead (never launched).
    private (Kernel Kernel, KernelArg[] Args)? _lastPack;
    private readonly HashSet<Kernel> _skippedPacks = new();

    private (long Writes, long DeviceWrites) ParameterVersion => (ParameterArena.Writes, _deviceWrites);

    /// <summary>
    /// A tiled GEMM bound right after the pack of its B (KernelVariant.PackB: B not transposed, kept alive through the
    /// GEMM) reads B in place, and the pack never runs, where the device's tile does so for the product's sizes: the
    /// shape, with <paramref name="args"/> binding B itself; null otherwise.
    /// </summary>
    private GemmShape? ReadInPlace(KernelVariant variant, ref KernelArg[] args)
    {
        if (variant != KernelVariant.TiledGemm || _lastPack is not { } pack || pack.Args[4].Buffer != args[5].Buffer
            || pack.Args[2].Int != 0
            || LibraryKernels.InPlaceGemm(Device.Gemm.Config, LibraryKernels.IsGpuShape(Device), args[0].Int, args[1].Int,
                args[2].Int, Device.Info.ComputeUnits, args[3].Int != 0) is not { } inPlace)
            return null;
        args = (KernelArg[])args.Clone();
        args[5] = pack.Args[3];
        _skippedPacks.Add(pack.Kernel);
        return inPlace;
    }

    /// <summary>The pack of a GEMM's B (KernelVariant.PackB): not launched where the GEMM after it reads B in place.</summary>
    protected void LaunchPack(Kernel kernel, long global0)
    {
        if (!_skippedPacks.Contains(kernel)) Launch(kernel, global0);
    }

    /// <summary>The packs the forward pass keeps, in the order it first ran them (it learns them as it runs).</summary>
    internal IReadOnlyList<KeptPack> KeptPacks => _keptPacks;

    /// <summary>
    /// The parameters changed outside the model's launches (an optimizer step, a copy on the device): check them again,
    /// and pack them again before a product reads them packed.
    /// </summary>
    internal void ParametersChanged()
    {
        _checked.Clear();
        _deviceWrites++;
    }

    /// <summary>
    /// An optimizer step changed the parameters and then packed <paramref name="repacked"/> again from them (launches
    /// queued after its update): those stay current, every other pack runs again.
    /// </summary>
    internal void ParametersUpdated(IReadOnlyList<Kernel> repacked)
    {
        ParametersChanged();
        var now = ParameterVersion;
        for (var i = 0; i < repacked.Count; i++) _packedAt[repacked[i]] = now; // no boxed enumerator each step
    }

    /// <summary>Whether a kept pack would run in the next forward pass (for tests).</summary>
    internal bool PackIsStale(Kernel kernel) => !_packedAt.TryGetValue(kernel, out var at) || at != ParameterVersion;

    /// <summary>Remembers a pack of a whole parameter: what it is, should the forward pass keep it (<see cref="LaunchPacked"/>).</summary>
    private void NotePack(Kernel kernel, KernelArg[] args)
    {
        if (kernel.Name != PackKernel || args.Length < 5 || args[3].Buffer is not { } b || args[4].Buffer is not { } packed) return;
        var index = _parameters.FindIndex(p => ReferenceEquals(p.Buffer, b));
        if (index < 0 || (long)args[0].Int * args[1].Int != b.Elements) return;
        _packsOfParameters[kernel] = new KeptPack(kernel, Spec.Parameters[index].Offset, args[0].Int, args[1].Int,
            args[2].Int != 0, packed);
    }

    /// <summary>
    /// The pack of a parameter into its own buffer in the GEMM's panels (<c>StorageKind.Packed</c>): launched only when
    /// the parameters changed since it last ran (a host write of the arena or of a slice, a copy, an optimizer step
    /// that did not store into the pack), so forward passes between updates read the weights packed as they are.
    /// </summary>
    protected void LaunchPacked(Kernel kernel, long global0)
    {
        if (_skippedPacks.Contains(kernel)) return; // its product reads the weight in place
        var now = ParameterVersion;
        if (_trace is null && _packedAt.TryGetValue(kernel, out var at) && at == now) return;
        Launch(kernel, global0);
        if (_trace is not null) return;
        _packedAt[kernel] = now;
        if (_packsOfParameters.Remove(kernel, out var pack)) _keptPacks.Add(pack);
    }
}
