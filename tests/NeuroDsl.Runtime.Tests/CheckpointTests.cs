using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>Safetensors checkpoints: round trips, refusals with reasons, atomic replacement.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ckpt").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void SafeTensors_RoundTrip_WithTheStandardLayout()
    {
        var path = P("a.safetensors");
        SafeTensors.Write(path, new[] { SafeTensor.Of("w", new long[] { 2, 3 }, new float[] { 1, 2, 3, 4, 5, 6 }), SafeTensor.Of("l", new long[] { 2 }, new[] { 7, -8 }) },
            new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        var headerLength = BitConverter.ToUInt64(bytes, 0);
        Assert.Equal(0UL, headerLength % 8);
        Assert.StartsWith("{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", System.Text.Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var (tensors, meta) = SafeTensors.Read(path);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, tensors["w"].AsFloats());
        Assert.Equal(new[] { 7, -8 }, tensors["l"].AsInts());
        Assert.Equal("v", meta["k"]);
    }

    [Fact]
    public void TruncatedOrCorruptFiles_AreRefusedWithAReason()
    {
        var path = P("b.safetensors");
        SafeTensors.Write(path, new[] { SafeTensor.Of("w", new long[] { 4 }, new float[] { 1, 2, 3, 4 }) });
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(P("trunc.safetensors"), bytes.AsSpan(0, bytes.Length - 3).ToArray());
        Assert.Contains("outside the", Assert.Throws<InvalidDataException>(() => SafeTensors.Read(P("trunc.safetensors"))).Message);
        File.WriteAllBytes(P("head.safetensors"), bytes.AsSpan(0, 20).ToArray());
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => SafeTensors.Read(P("head.safetensors"))).Message);
        var garbled = (byte[])bytes.Clone();
        garbled[9] = (byte)'!';
        File.WriteAllBytes(P("json.safetensors"), garbled);
        Assert.Contains("not JSON", Assert.Throws<InvalidDataException>(() => SafeTensors.Read(P("json.safetensors"))).Message);
        File.WriteAllBytes(P("tiny.safetensors"), new byte[] { 1, 2, 3 });
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => SafeTensors.Read(P("tiny.safetensors"))).Message);
    }

    [Fact]
    public void ACheckpointTruncatedAtAnyByte_IsRefusedWithAReason()
    {
        // A whole training checkpoint of a small model (weights, Adam's state, the position), cut at every offset.
        using var model = new NeuroDsl.Models.XorMlp(TestDevice.Instance, 4, seed: 1);
        var adam = new Adam(0.01f);
        var data = NeuroDsl.Runtime.Training.SmallDataSet.Xor();
        model.TrainStep(adam, data.X, data.Y);
        var path = P("whole.safetensors");
        Checkpoint.Save(path, model, adam, new TrainingPosition(1, 1, 7, model.StepIndex));
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 500, $"{bytes.Length} bytes");
        var cut = P("cut.safetensors");
        // A refused file changes nothing, so one target serves every cut.
        using var target = new NeuroDsl.Models.XorMlp(TestDevice.Instance, 4, seed: 2);
        for (var length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(cut, bytes.AsSpan(0, length).ToArray());
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(cut, target, new Adam(0.01f)));
            Assert.True(e.Message.Contains("too short", StringComparison.Ordinal) || e.Message.Contains("truncated?", StringComparison.Ordinal),
                $"cut at {length} of {bytes.Length}: {e.Message}");
        }
        Assert.Equal(1, Checkpoint.Load(path, target, new Adam(0.01f))!.EpochsDone);
    }

    [Fact]
    public void MismatchedCheckpoints_AreRefused_NamingTheProblem()
    {
        using var model = new NeuroDsl.Models.XorMlp(TestDevice.Instance, 4, seed: 1);
        var path = P("x.safetensors");
        Checkpoint.Save(path, model);
        var (tensors, meta) = SafeTensors.Read(path);

        var wrongShape = tensors.Values.Select(t => t.Name == "y.weight" ? SafeTensor.Of("y.weight", new long[] { 2, 1 }, t.AsFloats()) : t);
        SafeTensors.Write(P("shape.safetensors"), wrongShape, meta);
        Assert.Contains("'y.weight' has shape [2, 1], expected [1, 2]", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(P("shape.safetensors"), model)).Message);

        SafeTensors.Write(P("names.safetensors"), tensors.Values.Where(t => t.Name != "hidden.bias").Append(SafeTensor.Of("extra", new long[] { 1 }, new float[] { 0 })), meta);
        var names = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(P("names.safetensors"), model)).Message;
        Assert.Contains("missing 'hidden.bias'", names);
        Assert.Contains("unexpected 'extra'", names);

        SafeTensors.Write(P("dtype.safetensors"), tensors.Values.Select(t => t.Name == "y.bias" ? SafeTensor.Of("y.bias", new long[] { 1 }, new[] { 1 }) : t), meta);
        Assert.Contains("'y.bias' is I32, expected F32", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(P("dtype.safetensors"), model)).Message);

        using var other = new NeuroDsl.Models.Perceptron(TestDevice.Instance, 4, seed: 1);
        Assert.Contains("saved from model XorMlp", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, other)).Message);
        Assert.Contains("no optimizer state", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, model, new Adam())).Message);
    }

    [Fact]
    public void ACrashMidSave_LeavesThePreviousFileWhole()
    {
        var path = P("c.safetensors");
        SafeTensors.Write(path, new[] { SafeTensor.Of("w", new long[] { 2 }, new float[] { 1, 2 }) });
        var before = File.ReadAllBytes(path);
        // The writer dies after the new header is on disk and before the data.
        SafeTensors.AfterHeaderWritten = () => throw new IOException("simulated crash");
        try
        {
            Assert.Throws<IOException>(() => SafeTensors.Write(path, new[] { SafeTensor.Of("w", new long[] { 2 }, new float[] { 3, 4 }) }));
        }
        finally
        {
            SafeTensors.AfterHeaderWritten = null;
        }
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new float[] { 1, 2 }, SafeTensors.Read(path).Tensors["w"].AsFloats());
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }
}
