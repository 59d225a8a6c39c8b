using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Models;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.Training;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>LeNet-5 through its generated class on real Fashion-MNIST: it learns, and resuming is exact.</summary>
public sealed class LeNetTrainingTests
{
    private static readonly Lazy<(ImageDataSet Train, ImageDataSet Test)> Data = new(() => FashionMnist.Load(null));

    private static Trainer NewTrainer(ImageDataSet train, ImageDataSet test, Optimizer optimizer, out LeNet5 model, out LeNet5 eval)
    {
        model = new LeNet5(TestDevice.Instance, N: 64, seed: 3);
        eval = new LeNet5(TestDevice.Instance, N: 500, seed: 3);
        return new Trainer(model, eval, optimizer, train, test, seed: 3);
    }

    [Fact]
    public void LeNet5_OnASubset_LearnsFarAboveChance()
    {
        var (train, test) = (Data.Value.Train.Take(3200), Data.Value.Test.Take(1000));
        var trainer = NewTrainer(train, test, new Adam(2e-3f), out var model, out var eval);
        using (model)
        using (eval)
        {
            var first = trainer.RunEpoch(1, 2e-3f);
            var second = trainer.RunEpoch(2, 2e-3f);
            Assert.True(second.TrainLoss < first.TrainLoss, $"train loss {first.TrainLoss} then {second.TrainLoss}");
            Assert.True(second.TestAccuracy > 0.6, $"test accuracy {second.TestAccuracy} (chance is 0.1)");
        }
    }

    [Fact]
    public void ResumingFromACheckpoint_ReproducesTheUninterruptedRun()
    {
        var (train, test) = (Data.Value.Train.Take(640), Data.Value.Test.Take(500));
        var path = Path.Combine(Path.GetTempPath(), $"resume-{Guid.NewGuid():N}.safetensors");
        try
        {
            // Uninterrupted: two epochs.
            var losses = new List<float>();
            float[] straight;
            var t1 = NewTrainer(train, test, new Adam(1e-3f), out var m1, out var e1);
            using (m1)
            using (e1)
            {
                t1.RunEpoch(1, 1e-3f);
                t1.RunEpoch(2, 1e-3f, (_, _, l) => losses.Add(l));
                straight = m1.ParameterArena.ReadFloats();
            }

            // Interrupted after epoch 1, saved, and resumed in fresh instances.
            var t2 = NewTrainer(train, test, new Adam(1e-3f), out var m2, out var e2);
            using (m2)
            using (e2)
            {
                t2.RunEpoch(1, 1e-3f);
                Checkpoint.Save(path, m2, t2.Optimizer, new TrainingPosition(1, t2.Steps, 3, m2.StepIndex));
            }
            var resumedLosses = new List<float>();
            var optimizer = new Adam(1e-3f);
            var t3 = NewTrainer(train, test, optimizer, out var m3, out var e3);
            using (m3)
            using (e3)
            {
                var position = Checkpoint.Load(path, m3, optimizer)!;
                Assert.Equal(1, position.EpochsDone);
                t3.Resume(position.Steps);
                t3.RunEpoch(2, 1e-3f, (_, _, l) => resumedLosses.Add(l));
                Assert.Equal(losses, resumedLosses);
                Assert.Equal(straight, m3.ParameterArena.ReadFloats());
                Assert.Equal(20, optimizer.StepCount);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
