using System;
using System.Collections.Generic;

namespace NeuroDsl.Runtime.OpenCl;

/// <summary>An OpenCL call that failed: names the call and the error code's name.</summary>
public sealed class ClException : Exception
{
    public ClException(string call, int status, string? detail = null)
        : base($"{call} failed with {Name(status)} ({status})" + (detail is null ? "" : ": " + detail))
    {
        Call = call;
        Status = status;
    }

    public string Call { get; }
    public int Status { get; }

    internal static void Check(int status, string call)
    {
        if (status != 0) throw new ClException(call, status);
    }

    private static readonly Dictionary<int, string> Names = new()
    {
        [-1] = "CL_DEVICE_NOT_FOUND", [-2] = "CL_DEVICE_NOT_AVAILABLE", [-3] = "CL_COMPILER_NOT_AVAILABLE",
        [-4] = "CL_MEM_OBJECT_ALLOCATION_FAILURE", [-5] = "CL_OUT_OF_RESOURCES", [-6] = "CL_OUT_OF_HOST_MEMORY",
        [-7] = "CL_PROFILING_INFO_NOT_AVAILABLE", [-8] = "CL_MEM_COPY_OVERLAP", [-11] = "CL_BUILD_PROGRAM_FAILURE",
        [-13] = "CL_MISALIGNED_SUB_BUFFER_OFFSET", [-30] = "CL_INVALID_VALUE", [-32] = "CL_INVALID_PLATFORM",
        [-33] = "CL_INVALID_DEVICE", [-34] = "CL_INVALID_CONTEXT", [-36] = "CL_INVALID_COMMAND_QUEUE",
        [-38] = "CL_INVALID_MEM_OBJECT", [-42] = "CL_INVALID_BINARY", [-43] = "CL_INVALID_BUILD_OPTIONS",
        [-44] = "CL_INVALID_PROGRAM", [-45] = "CL_INVALID_PROGRAM_EXECUTABLE", [-46] = "CL_INVALID_KERNEL_NAME",
        [-48] = "CL_INVALID_KERNEL", [-49] = "CL_INVALID_ARG_INDEX", [-50] = "CL_INVALID_ARG_VALUE",
        [-51] = "CL_INVALID_ARG_SIZE", [-52] = "CL_INVALID_KERNEL_ARGS", [-53] = "CL_INVALID_WORK_DIMENSION",
        [-54] = "CL_INVALID_WORK_GROUP_SIZE", [-55] = "CL_INVALID_WORK_ITEM_SIZE", [-56] = "CL_INVALID_GLOBAL_OFFSET",
        [-61] = "CL_INVALID_BUFFER_SIZE", [-63] = "CL_INVALID_GLOBAL_WORK_SIZE", [-1001] = "CL_PLATFORM_NOT_FOUND_KHR",
    };

    public static string Name(int status) => Names.TryGetValue(status, out var n) ? n : "CL_ERROR";
}
