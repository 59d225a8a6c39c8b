using System;
using System.CommandLine;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl devices</c>: the OpenCL devices, numbered as NEURODSL_DEVICE takes them, each with its profile (what its
/// kernels are tuned by), the GEMM parameters and the generated kernels' settings it runs with.
/// </summary>
internal static class DevicesCommand
{
    public static Command Build()
    {
        var command = new Command("devices", "List the OpenCL devices (NEURODSL_DEVICE picks one by index or name), with "
            + "each one's profile, GEMM tile and kernel settings.")
            .WithExamples("neurodsl devices", "NEURODSL_DEVICE=1 neurodsl train models/lenet5.nd --data fashion-mnist");
        command.SetAction(_ => Run());
        return command;
    }

    public static int Run()
    {
        var devices = NeuroDsl.Runtime.Device.List();
        if (devices.Count == 0)
        {
            Console.Error.WriteLine("neurodsl: no OpenCL device found. Install pocl-opencl-icd (CPU) or your GPU vendor's OpenCL driver.");
            return ExitCodes.Unavailable;
        }
        var tuning = NeuroDsl.Runtime.Tuning.GemmTuning.Directory;
        foreach (var d in devices)
        {
            Console.Out.WriteLine($"{d.Index}: {d.Name} — {d.Platform}, {(d.IsGpu ? "GPU" : "CPU")}, {d.ComputeUnits} compute units, "
                + $"{d.GlobalMemory / (1 << 20)} MiB, driver {d.DriverVersion}");
            foreach (var line in d.Profile.Describe()) Console.Out.WriteLine("   " + line);
            var gemm = NeuroDsl.Runtime.Tuning.GemmTuning.Load(d, tuning, Console.Error.WriteLine);
            Console.Out.WriteLine($"   GEMM: {gemm.Config.Describe(NeuroDsl.Runtime.LibraryKernels.IsGpuShape(d))} ({gemm.Source})");
            var (gpu, settings, source) = NeuroDsl.Runtime.Device.Resolve(d, tuning, Console.Error.WriteLine);
            Console.Out.WriteLine($"   generated kernels ({(gpu ? "GPU" : "CPU")} shapes): {settings} ({source})");
            Console.Out.WriteLine("   programs cached by " + (ProgramCache.KeepsBinaries(d)
                ? $"NeuroDsl: binaries in {ProgramCache.Directory}"
                : ProgramCache.IsPocl(d)
                    ? "PoCL's kernel cache (each kernel compiled at its first launch; NEURODSL_PROGRAM_BINARIES=1 adds NeuroDsl's binaries)"
                    : "the driver alone, if it caches (NEURODSL_PROGRAM_BINARIES=0)"));
        }
        Console.Out.WriteLine($"tuning files: {tuning} ('neurodsl tune' writes them)");
        return ExitCodes.Ok;
    }
}
