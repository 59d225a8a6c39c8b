using System;
using System.Runtime.InteropServices;

namespace NeuroDsl.Runtime.OpenCl;

/// <summary>
/// Thin bindings to the OpenCL ICD loader (<c>libOpenCL.so.1</c>): only the calls NeuroDsl uses.
/// Handles are <see cref="nint"/>; every status is checked by <see cref="ClException.Check"/> at the call site.
/// </summary>
internal static partial class Cl
{
    private const string Lib = "libOpenCL.so.1";

    public const uint DeviceTypeGpu = 1 << 2;
    public const uint DeviceTypeAll = 0xFFFFFFFF;
    public const uint PlatformName = 0x0902;
    public const uint PlatformVersion = 0x0901;
    public const uint DeviceType = 0x1000;
    public const uint DeviceName = 0x102B;
    public const uint DeviceVendor = 0x102C;
    public const uint DriverVersion = 0x102D;
    public const uint DeviceVersion = 0x102F;
    public const uint DeviceMemBaseAddrAlign = 0x1019;
    public const uint DeviceMaxComputeUnits = 0x1002;
    public const uint DeviceGlobalMemSize = 0x101F;
    public const uint ProgramBuildLog = 0x1183;
    public const uint ProgramBinarySizes = 0x1165;
    public const uint ProgramBinaries = 0x1166;
    public const ulong MemReadWrite = 1 << 0;
    public const uint BufferCreateTypeRegion = 0x1220;

    [LibraryImport(Lib, EntryPoint = "clGetPlatformIDs")]
    public static partial int GetPlatformIDs(uint numEntries, nint[]? platforms, out uint numPlatforms);

    [LibraryImport(Lib, EntryPoint = "clGetPlatformInfo")]
    public static unsafe partial int GetPlatformInfo(nint platform, uint name, nuint size, void* value, out nuint sizeRet);

    [LibraryImport(Lib, EntryPoint = "clGetDeviceIDs")]
    public static partial int GetDeviceIDs(nint platform, ulong type, uint numEntries, nint[]? devices, out uint numDevices);

    [LibraryImport(Lib, EntryPoint = "clGetDeviceInfo")]
    public static unsafe partial int GetDeviceInfo(nint device, uint name, nuint size, void* value, out nuint sizeRet);

    [LibraryImport(Lib, EntryPoint = "clCreateContext")]
    public static unsafe partial nint CreateContext(nint* properties, uint numDevices, nint* devices, nint callback, nint userData, out int status);

    [LibraryImport(Lib, EntryPoint = "clCreateCommandQueue")]
    public static partial nint CreateCommandQueue(nint context, nint device, ulong properties, out int status);

    [LibraryImport(Lib, EntryPoint = "clCreateBuffer")]
    public static partial nint CreateBuffer(nint context, ulong flags, nuint size, nint hostPtr, out int status);

    [LibraryImport(Lib, EntryPoint = "clCreateSubBuffer")]
    public static unsafe partial nint CreateSubBuffer(nint buffer, ulong flags, uint type, nuint* region, out int status);

    [LibraryImport(Lib, EntryPoint = "clEnqueueWriteBuffer")]
    public static unsafe partial int EnqueueWriteBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* ptr, uint numEvents, nint events, nint evt);

    [LibraryImport(Lib, EntryPoint = "clEnqueueReadBuffer")]
    public static unsafe partial int EnqueueReadBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* ptr, uint numEvents, nint events, nint evt);

    [LibraryImport(Lib, EntryPoint = "clEnqueueFillBuffer")]
    public static unsafe partial int EnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size, uint numEvents, nint events, nint evt);

    [LibraryImport(Lib, EntryPoint = "clEnqueueCopyBuffer")]
    public static partial int EnqueueCopyBuffer(nint queue, nint src, nint dst, nuint srcOffset, nuint dstOffset, nuint size, uint numEvents, nint events, nint evt);

    [LibraryImport(Lib, EntryPoint = "clCreateProgramWithSource")]
    public static unsafe partial nint CreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, out int status);

    [LibraryImport(Lib, EntryPoint = "clCreateProgramWithBinary")]
    public static unsafe partial nint CreateProgramWithBinary(nint context, uint numDevices, nint* devices, nuint* lengths, byte** binaries, int* binaryStatus, out int status);

    [LibraryImport(Lib, EntryPoint = "clBuildProgram", StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int BuildProgram(nint program, uint numDevices, nint* devices, string options, nint callback, nint userData);

    [LibraryImport(Lib, EntryPoint = "clGetProgramBuildInfo")]
    public static unsafe partial int GetProgramBuildInfo(nint program, nint device, uint name, nuint size, void* value, out nuint sizeRet);

    [LibraryImport(Lib, EntryPoint = "clGetProgramInfo")]
    public static unsafe partial int GetProgramInfo(nint program, uint name, nuint size, void* value, out nuint sizeRet);

    [LibraryImport(Lib, EntryPoint = "clCreateKernel", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint CreateKernel(nint program, string name, out int status);

    [LibraryImport(Lib, EntryPoint = "clSetKernelArg")]
    public static unsafe partial int SetKernelArg(nint kernel, uint index, nuint size, void* value);

    [LibraryImport(Lib, EntryPoint = "clEnqueueNDRangeKernel")]
    public static unsafe partial int EnqueueNDRangeKernel(nint queue, nint kernel, uint workDim, nuint* offset, nuint* global, nuint* local, uint numEvents, nint events, nint evt);

    [LibraryImport(Lib, EntryPoint = "clFinish")]
    public static partial int Finish(nint queue);

    [LibraryImport(Lib, EntryPoint = "clFlush")]
    public static partial int Flush(nint queue);

    [LibraryImport(Lib, EntryPoint = "clReleaseMemObject")]
    public static partial int ReleaseMemObject(nint mem);

    [LibraryImport(Lib, EntryPoint = "clReleaseKernel")]
    public static partial int ReleaseKernel(nint kernel);

    [LibraryImport(Lib, EntryPoint = "clReleaseProgram")]
    public static partial int ReleaseProgram(nint program);

    [LibraryImport(Lib, EntryPoint = "clReleaseCommandQueue")]
    public static partial int ReleaseCommandQueue(nint queue);

    [LibraryImport(Lib, EntryPoint = "clReleaseContext")]
    public static partial int ReleaseContext(nint context);
}
