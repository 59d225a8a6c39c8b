using System;
using Silk.NET.OpenCL;
using ClDeviceInfo = Silk.NET.OpenCL.DeviceInfo;

namespace NeuroDsl.Runtime.OpenCl;

/// <summary>
/// The OpenCL calls NeuroDsl makes, over Silk.NET.OpenCL's binding of the ICD loader. Handles are
/// <see cref="nint"/> and parameter names are Silk.NET's enums; this layer only fixes the shapes the runtime uses
/// (out parameters, no event lists) — every status is checked by <see cref="ClException.Check"/> at the call site,
/// which names the call and the error.
/// </summary>
internal static unsafe class Cl
{
    private static CL? _api;

    /// <summary>
    /// The binding, loaded on first use (after that a field read: the launch path pays nothing for the check); throws
    /// <see cref="DllNotFoundException"/> when no OpenCL loader is installed.
    /// </summary>
    private static CL Api => _api ?? Load();

    private static CL Load()
    {
        try
        {
            return _api = CL.GetApi();
        }
        catch (Exception e) when (e is not DllNotFoundException)
        {
            throw new DllNotFoundException("The OpenCL loader (libOpenCL.so.1) could not be loaded: " + e.Message, e);
        }
    }

    public static int GetPlatformIDs(uint numEntries, nint[]? platforms, out uint numPlatforms)
    {
        fixed (nint* p = platforms)
        fixed (uint* n = &numPlatforms)
            return Api.GetPlatformIDs(numEntries, p, n);
    }

    public static int GetPlatformInfo(nint platform, PlatformInfo name, nuint size, void* value, out nuint sizeRet)
    {
        fixed (nuint* r = &sizeRet) return Api.GetPlatformInfo(platform, name, size, value, r);
    }

    public static int GetDeviceIDs(nint platform, DeviceType type, uint numEntries, nint[]? devices, out uint numDevices)
    {
        fixed (nint* d = devices)
        fixed (uint* n = &numDevices)
            return Api.GetDeviceIDs(platform, type, numEntries, d, n);
    }

    public static int GetDeviceInfo(nint device, ClDeviceInfo name, nuint size, void* value, out nuint sizeRet)
    {
        fixed (nuint* r = &sizeRet) return Api.GetDeviceInfo(device, name, size, value, r);
    }

    public static nint CreateContext(nint* devices, uint numDevices, out int status)
    {
        fixed (int* s = &status) return Api.CreateContext(null, numDevices, devices, null, null, s);
    }

    public static nint CreateCommandQueue(nint context, nint device, out int status)
    {
        fixed (int* s = &status) return Api.CreateCommandQueue(context, device, CommandQueueProperties.None, s);
    }

    public static nint CreateBuffer(nint context, nuint size, out int status)
    {
        fixed (int* s = &status) return Api.CreateBuffer(context, MemFlags.ReadWrite, size, null, s);
    }

    /// <summary>A sub-buffer over <paramref name="region"/> (origin and size in bytes).</summary>
    public static nint CreateSubBuffer(nint buffer, nuint* region, out int status)
    {
        fixed (int* s = &status) return Api.CreateSubBuffer(buffer, MemFlags.ReadWrite, BufferCreateType.Region, region, s);
    }

    public static int EnqueueWriteBuffer(nint queue, nint buffer, bool blocking, nuint offset, nuint size, void* ptr) =>
        Api.EnqueueWriteBuffer(queue, buffer, blocking, offset, size, ptr, 0, null, null);

    /// <summary>A non-blocking write that signals <paramref name="done"/> once it has read the host's bytes.</summary>
    public static int EnqueueWriteBuffer(nint queue, nint buffer, nuint offset, nuint size, void* ptr, out nint done)
    {
        fixed (nint* e = &done) return Api.EnqueueWriteBuffer(queue, buffer, false, offset, size, ptr, 0, null, e);
    }

    public static int WaitForEvent(nint done) => Api.WaitForEvents(1, &done);

    public static int EnqueueReadBuffer(nint queue, nint buffer, bool blocking, nuint offset, nuint size, void* ptr) =>
        Api.EnqueueReadBuffer(queue, buffer, blocking, offset, size, ptr, 0, null, null);

    /// <summary>A non-blocking read that signals <paramref name="done"/> when the bytes are on the host.</summary>
    public static int EnqueueReadBuffer(nint queue, nint buffer, nuint offset, nuint size, void* ptr, out nint done)
    {
        fixed (nint* e = &done) return Api.EnqueueReadBuffer(queue, buffer, false, offset, size, ptr, 0, null, e);
    }

    /// <summary>CL_COMPLETE (0), a positive status while queued or running, or a negative error.</summary>
    public static int GetEventStatus(nint done, out int status)
    {
        fixed (int* s = &status) return Api.GetEventInfo(done, EventInfo.CommandExecutionStatus, sizeof(int), s, null);
    }

    public static int ReleaseEvent(nint done) => Api.ReleaseEvent(done);

    public static int EnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size) =>
        Api.EnqueueFillBuffer(queue, buffer, pattern, patternSize, offset, size, 0, null, null);

    public static int EnqueueCopyBuffer(nint queue, nint src, nint dst, nuint srcOffset, nuint dstOffset, nuint size) =>
        Api.EnqueueCopyBuffer(queue, src, dst, srcOffset, dstOffset, size, 0, null, null);

    public static nint CreateProgramWithSource(nint context, byte** strings, nuint* lengths, out int status)
    {
        fixed (int* s = &status) return Api.CreateProgramWithSource(context, 1, strings, lengths, s);
    }

    public static nint CreateProgramWithBinary(nint context, nint* device, nuint* length, byte** binary, int* binaryStatus,
        out int status)
    {
        fixed (int* s = &status) return Api.CreateProgramWithBinary(context, 1, device, length, binary, binaryStatus, s);
    }

    private static delegate* unmanaged<nint, uint, nint*, byte*, nint, void*, int> _buildProgram;

    /// <summary>
    /// clBuildProgram through its entry point, not Silk.NET's wrapper: the wrapper pins its callback argument (even a
    /// null one) in a table that is not thread-safe, so two threads building at once threw from inside it.
    /// </summary>
    public static int BuildProgram(nint program, nint* device, string options)
    {
        if (_buildProgram == null)
            _buildProgram = (delegate* unmanaged<nint, uint, nint*, byte*, nint, void*, int>)Api.Context.GetProcAddress("clBuildProgram", null);
        var bytes = System.Text.Encoding.UTF8.GetBytes(options + "\0");
        fixed (byte* o = bytes) return _buildProgram(program, 1, device, o, 0, null);
    }

    public static int GetProgramBuildInfo(nint program, nint device, ProgramBuildInfo name, nuint size, void* value, out nuint sizeRet)
    {
        fixed (nuint* r = &sizeRet) return Api.GetProgramBuildInfo(program, device, name, size, value, r);
    }

    public static int GetProgramInfo(nint program, ProgramInfo name, nuint size, void* value, out nuint sizeRet)
    {
        fixed (nuint* r = &sizeRet) return Api.GetProgramInfo(program, name, size, value, r);
    }

    public static nint CreateKernel(nint program, string name, out int status)
    {
        fixed (int* s = &status) return Api.CreateKernel(program, name, s);
    }

    public static int SetKernelArg(nint kernel, uint index, nuint size, void* value) => Api.SetKernelArg(kernel, index, size, value);

    public static int EnqueueNDRangeKernel(nint queue, nint kernel, uint workDim, nuint* global, nuint* local) =>
        Api.EnqueueNdrangeKernel(queue, kernel, workDim, null, global, local, 0, null, null);

    public static int Finish(nint queue) => Api.Finish(queue);

    public static int Flush(nint queue) => Api.Flush(queue);

    public static int ReleaseMemObject(nint mem) => Api.ReleaseMemObject(mem);

    public static int ReleaseKernel(nint kernel) => Api.ReleaseKernel(kernel);

    public static int ReleaseProgram(nint program) => Api.ReleaseProgram(program);

    public static int ReleaseCommandQueue(nint queue) => Api.ReleaseCommandQueue(queue);

    public static int ReleaseContext(nint context) => Api.ReleaseContext(context);
}
