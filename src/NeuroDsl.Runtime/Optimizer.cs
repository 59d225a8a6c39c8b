using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Runtime;

/// <summary>
/// An optimizer updates a model's whole parameter arena with one kernel launch per step. Its state (momentum, moments)
/// is allocated on the first step for each model and reused after. It then rewrites the packs the forward pass keeps
/// of the weights (the GEMM's panels) in one more launch, so that pass packs nothing.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<CompiledModel, Binding> _bound = new();

    /// <summary>Learning rate; a schedule may change it between steps.</summary>
    public float LearningRate { get; set; }

    /// <summary>Steps taken so far (Adam's bias correction uses it).</summary>
    public long StepCount { get; protected set; }

    /// <summary>Kernel launches the steps enqueued so far (the updates and the packs).</summary>
    public long LaunchCount { get; private set; }

    /// <summary>
    /// Whether a step rewrites the packs the forward pass keeps (the default); without it the next forward pass packs
    /// them, as before the optimizers did (for tests that compare the two).
    /// </summary>
    internal bool RewritesPacks { get; set; } = true;

    protected abstract string KernelName { get; }
    private int StateBuffers => StateNames.Count;

    /// <summary>The optimizer's name in checkpoints ("sgd", "adam").</summary>
    public abstract string Name { get; }

    /// <summary>Names of its per-parameter state, as torch.optim calls them.</summary>
    public abstract IReadOnlyList<string> StateNames { get; }

    /// <summary>Sets the per-step scalar arguments (index 2 + StateBuffers onward).</summary>
    protected abstract void SetScalars(Kernel kernel, int firstScalar);

    /// <summary>The state arenas for a model, laid out like its parameter arena (read back: not for the hot path).</summary>
    public IReadOnlyList<(string Name, float[] Values)> ExportState(CompiledModel model)
    {
        var bound = Bind(model);
        return StateNames.Select((n, i) => (n, bound.State[i].ReadFloats())).ToList();
    }

    /// <summary>Restores state saved by <see cref="ExportState"/> and the step count (for resuming).</summary>
    public void ImportState(CompiledModel model, IReadOnlyDictionary<string, float[]> state, long steps)
    {
        var bound = Bind(model);
        for (var i = 0; i < StateNames.Count; i++) bound.State[i].Write<float>(state[StateNames[i]]);
        StepCount = steps;
    }

    public void Step(CompiledModel model)
    {
        var bound = Bind(model);
        StepCount++;
        SetScalars(bound.Kernel, 2 + StateBuffers);
        bound.Kernel.Launch(model.Spec.TrainableElements);
        LaunchCount++;
        if (!RewritesPacks)
        {
            model.ParametersChanged();
            return;
        }
        bound.Plan(model);
        foreach (var (pack, items) in bound.Packs)
        {
            if (bound.Packs.Count > 1) pack.Bind(bound.Pack);
            bound.Pack.Launch(items);
            LaunchCount++;
        }
        model.ParametersUpdated(bound.Written);
    }

    private Binding Bind(CompiledModel model)
    {
        if (!_bound.TryGetValue(model, out var bound))
        {
            var kernel = model.LibraryKernel(KernelName);
            var state = new DeviceBuffer[StateBuffers];
            for (var i = 0; i < state.Length; i++) state[i] = model.AllocateState();
            kernel.Set(0, model.ParameterArena);
            kernel.Set(1, model.GradientArena);
            for (var i = 0; i < state.Length; i++) kernel.Set(2 + i, state[i]);
            var pack = model.LibraryKernel(PackKernel);
            pack.Set(0, model.ParameterArena);
            bound = new Binding(kernel, state, pack);
            bound.Plan(model);
            _bound[model] = bound;
        }
        return bound;
    }

    /// <summary>kernels/optim.cl's kernel that rewrites up to eight packs in one launch.</summary>
    private const string PackKernel = "nd_gemm_pack_many_f32";

    private const int PacksPerLaunch = 8;

    /// <summary>An optimizer's kernels and state for one model, and the launches that rewrite its packs.</summary>
    private sealed class Binding
    {
        public Binding(Kernel kernel, DeviceBuffer[] state, Kernel pack)
        {
            Kernel = kernel;
            State = state;
            Pack = pack;
        }

        public Kernel Kernel { get; }
        public DeviceBuffer[] State { get; }
        public Kernel Pack { get; }

        /// <summary>The launches of <see cref="Pack"/>, eight packs each, and their work-items.</summary>
        public List<(PackLaunch Launch, long Items)> Packs { get; } = new();
        public List<Kernel> Written { get; } = new();
        private int _known = -1;

        /// <summary>
        /// The launches that rewrite the model's kept packs (the forward pass learns them as it runs, so this runs
        /// again when it learned more), each with its table (per pack: offset, K, N, transposed).
        /// </summary>
        public void Plan(CompiledModel model)
        {
            var packs = model.KeptPacks;
            if (_known == packs.Count) return;
            _known = packs.Count;
            Packs.Clear();
            Written.Clear();
            for (var first = 0; first < packs.Count; first += PacksPerLaunch)
            {
                var mine = packs.Skip(first).Take(PacksPerLaunch).ToList();
                var table = model.AllocateTable(mine.SelectMany(p =>
                    new[] { checked((int)p.Offset), p.K, p.N, p.Transposed ? 1 : 0 }).ToArray());
                var items = mine.Sum(Items);
                Packs.Add((new PackLaunch(mine.Select(p => p.Packed).ToArray(), table), items));
                Written.AddRange(mine.Select(p => p.Kernel));
            }
            if (Packs.Count == 1) Packs[0].Launch.Bind(Pack);
        }

        /// <summary>nd_gemm_pack_many_f32's work-items for a pack: 16 × 16 blocks, or those of the pack kernel.</summary>
        private static long Items(KeptPack p) =>
            p.Transposed && p.K % 16 == 0 && p.N % 16 == 0 ? (long)p.K * p.N / 256 : (p.N + 31L) / 32 * p.K;
    }

    /// <summary>One launch of the pack kernel: its packs and their table.</summary>
    private sealed record PackLaunch(DeviceBuffer[] Packs, DeviceBuffer Table)
    {
        public void Bind(Kernel kernel)
        {
            kernel.Set(1, KernelArg.Of(Packs.Length));
            kernel.Set(2, Table);
            // The unused ones are never written; any buffer binds them.
            for (var s = 0; s < PacksPerLaunch; s++) kernel.Set(3 + s, s < Packs.Length ? Packs[s] : Table);
        }
    }
}

/// <summary>Stochastic gradient descent with momentum, Nesterov and L2 weight decay (torch.optim.SGD).</summary>
public sealed class Sgd : Optimizer
{
    public Sgd(float learningRate, float momentum = 0f, float weightDecay = 0f, bool nesterov = false)
    {
        if (learningRate <= 0) throw new ArgumentOutOfRangeException(nameof(learningRate));
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
    }

    public float Momentum { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }
    protected override string KernelName => "nd_sgd_f32";
    public override string Name => "sgd";
    public override IReadOnlyList<string> StateNames { get; } = new[] { "momentum_buffer" };

    protected override void SetScalars(Kernel kernel, int first)
    {
        kernel.Set(first, KernelArg.Of(LearningRate));
        kernel.Set(first + 1, KernelArg.Of(Momentum));
        kernel.Set(first + 2, KernelArg.Of(WeightDecay));
        kernel.Set(first + 3, KernelArg.Of(Nesterov ? 1 : 0));
    }
}

/// <summary>Adam (Kingma &amp; Ba 2015) with L2 weight decay, matching torch.optim.Adam.</summary>
public sealed class Adam : Optimizer
{
    public Adam(float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0f)
    {
        if (learningRate <= 0) throw new ArgumentOutOfRangeException(nameof(learningRate));
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public float WeightDecay { get; }
    protected override string KernelName => "nd_adam_f32";
    public override string Name => "adam";
    public override IReadOnlyList<string> StateNames { get; } = new[] { "exp_avg", "exp_avg_sq" };

    protected override void SetScalars(Kernel kernel, int first)
    {
        kernel.Set(first, KernelArg.Of(LearningRate));
        kernel.Set(first + 1, KernelArg.Of(Beta1));
        kernel.Set(first + 2, KernelArg.Of(Beta2));
        kernel.Set(first + 3, KernelArg.Of(Epsilon));
        kernel.Set(first + 4, KernelArg.Of((float)(1 - Math.Pow(Beta1, StepCount))));
        kernel.Set(first + 5, KernelArg.Of((float)(1 - Math.Pow(Beta2, StepCount))));
        kernel.Set(first + 6, KernelArg.Of(WeightDecay));
    }
}
