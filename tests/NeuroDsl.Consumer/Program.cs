using NeuroDsl.Runtime;
using NeuroDsl.Consumer;

using var device = Device.Open();                       // the default OpenCL device (NEURODSL_DEVICE picks another)
using var model = new XorMlp(device, N: 4, seed: 7);    // N, the batch size, is the model's one symbol
var x = new float[] { 0, 0, 0, 1, 1, 0, 1, 1 };
var target = new float[] { 0, 1, 1, 0 };
var sgd = new Sgd(learningRate: 2f, momentum: 0.9f);
var first = model.TrainStep(sgd, x, target);
var loss = first;
for (var step = 1; step < 300; step++) loss = model.TrainStep(sgd, x, target);
Console.WriteLine($"{XorMlp.ModelName} on {device.Info.Name}: loss {first:F4} -> {loss:F4} in 300 steps");
