using System;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;
using SkiaSharp;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// train on every kind of image set, at toy sizes: Fashion-MNIST fitted to a 3-channel model of another size,
/// NumPy files, and a folder of PNG images; the test evaluation limited.
/// </summary>
public sealed class ImageDataCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-images").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // A small 3-channel classifier of 20×20 images: Fashion-MNIST's grey 28×28 images are resized and replicated.
    private const string Rgb20 = """
        model Rgb20 {
          input image: f32[N, 3, 20, 20]
          input label: i32[N]
          h = image |> conv2d(4, 5, stride: 3) |> relu |> flatten
          output logits = h |> dense(10)
          loss cross_entropy(logits, label)
        }
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text + "\n");
        return path;
    }

    [SkippableFact]
    public void FashionMnist_FeedsA3ChannelModelOfAnotherSize_WithATestLimit()
    {
        Skip.IfNot(Directory.Exists(FashionMnist.DebianDirectory), "Debian's dataset-fashion-mnist is not installed");
        var (code, output, err) = CliTests.Run("train", Write("rgb20.nd", Rgb20), "--data", "fashion-mnist", "--epochs", "1", "--batch", "32",
            "--limit", "320", "--test-limit", "100", "--checkpoint", Path.Combine(_dir, "ck.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("1×28×28, resized to 20×20, grey replicated to 3 channels", output);
        Assert.Contains("320 training, 100 test images", output);
        Assert.Contains("(on 100 of 10,000 test images)", output);
        Assert.Matches(@"\nfirst step \d+\.\d+ s after start \(the step itself \d+\.\d+ s", output);
    }

    [Fact]
    public void NumPyFiles_TrainAFlatModel_AndBadLabelsAreRefused()
    {
        var rng = new Random(5);
        var x = Path.Combine(_dir, "x.npy");
        var y = Path.Combine(_dir, "y.npy");
        Npy.Write(x, new long[] { 40, 784 }, Enumerable.Range(0, 40 * 784).Select(_ => (float)rng.NextDouble()).ToArray());
        Npy.Write(y, new long[] { 40 }, "<i8", Enumerable.Range(0, 40).SelectMany(i => BitConverter.GetBytes((long)(i % 10))).ToArray());
        var (code, output, err) = CliTests.Run("train", CliTests.Model("mlp.nd"), "--data", x, "--labels", y, "--epochs", "1", "--batch", "12");
        Assert.True(code == 0, err);
        Assert.Contains("36 training, 4 test images", output);
        Npy.Write(y, new long[] { 40 }, "<i8", Enumerable.Range(0, 40).SelectMany(i => BitConverter.GetBytes((long)(i % 12))).ToArray());
        (code, _, err) = CliTests.Run("train", CliTests.Model("mlp.nd"), "--data", x, "--labels", y, "--epochs", "1");
        Assert.Equal(64, code);
        Assert.Contains("has 12 classes (labels 0..11); Mlp's logits scores 10", err);
        Npy.Write(y, new long[] { 39 }, "<i8", new byte[39 * 8]);
        (code, _, err) = CliTests.Run("train", CliTests.Model("mlp.nd"), "--data", x, "--labels", y);
        Assert.Equal(65, code);
        Assert.Contains("the labels of", err);
    }

    [Fact]
    public void AFolderOfPngImages_IsASet_ClassesByFolderName()
    {
        var root = Path.Combine(_dir, "shapes");
        foreach (var (name, colour) in new[] { ("dark", SKColors.Black), ("light", SKColors.White) })
        {
            Directory.CreateDirectory(Path.Combine(root, name));
            for (var i = 0; i < 10; i++)
            {
                using var bitmap = new SKBitmap(17 + i, 23);
                bitmap.Erase(colour);
                using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(root, name, $"{i}.png"), data.ToArray());
            }
        }
        var (code, output, err) = CliTests.Run("train", CliTests.Model("lenet5.nd"), "--data", root, "--epochs", "1", "--batch", "6",
            "--checkpoint", Path.Combine(_dir, "ck.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("shapes: 18 training, 2 test images, 3×32×32, channels averaged to grey", output);
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        Assert.Equal(65, CliTests.Run("train", CliTests.Model("lenet5.nd"), "--data", empty).Code);
    }
}
