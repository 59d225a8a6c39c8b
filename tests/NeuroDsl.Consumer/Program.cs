// xor.nd, an ordinary file of the project, becomes the class XorMlp in the project's root namespace.
using NeuroDsl.Consumer;
using NeuroDsl.Runtime;

using var device = Device.Open();                       // the default OpenCL device (NEURODSL_DEVICE picks another)
using var model = new XorMlp(device, N: 4, seed: 7);    // N, the batch size, is the model's one symbol
var x = new float[] { 0, 0, 0, 1, 1, 0, 1, 1 };
var target = new float[] { 0, 1, 1, 0 };
var sgd = new Sgd(learningRate: 2f, momentum: 0.9f);
var first = model.TrainStep(sgd, x, target);
var loss = first;
for (var step = 1; step < 300; step++) loss = model.TrainStep(sgd, x, target);
model.SetInputs(x, target);
model.Forward();
var y = model.Read("y");
Console.WriteLine($"{XorMlp.ModelName} ({XorMlp.ParameterCount} parameters) on {device.Info.Name}: loss {first:F4} -> {loss:F4} in 300 steps");
Console.WriteLine("y = " + string.Join(" ", y.Select(v => v.ToString("F2", System.Globalization.CultureInfo.InvariantCulture))));
