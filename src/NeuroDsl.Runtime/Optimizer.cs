using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Runtime;

/// <summary>
/// An optimizer updates a model's whole parameter arena with one kernel launch per step. Its state
/// (momentum, moments) is allocated on the first step for each model and reused after.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<CompiledModel, (Kernel Kernel, DeviceBuffer[] State)> _bound = new();

    /// <summary>Learning rate; a schedule may change it between steps.</summary>
    public float LearningRate { get; set; }

    /// <summary>Steps taken so far (Adam's bias correction uses it).</summary>
    public long StepCount { get; protected set; }

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
        model.ParametersChanged();
    }

    private (Kernel Kernel, DeviceBuffer[] State) Bind(CompiledModel model)
    {
        if (!_bound.TryGetValue(model, out var bound))
        {
            var kernel = model.LibraryKernel(KernelName);
            var state = new DeviceBuffer[StateBuffers];
            for (var i = 0; i < state.Length; i++) state[i] = model.AllocateState();
            kernel.Set(0, model.ParameterArena);
            kernel.Set(1, model.GradientArena);
            for (var i = 0; i < state.Length; i++) kernel.Set(2 + i, state[i]);
            bound = (kernel, state);
            _bound[model] = bound;
        }
        return bound;
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
