using NeuroDsl.Runtime.OpenCl;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>Status names come from Silk.NET's ErrorCodes, written as OpenCL's C names.</summary>
public sealed class ClExceptionTests
{
    [Theory]
    [InlineData(-5, "CL_OUT_OF_RESOURCES")]
    [InlineData(-11, "CL_BUILD_PROGRAM_FAILURE")]
    [InlineData(-46, "CL_INVALID_KERNEL_NAME")]
    [InlineData(-52, "CL_INVALID_KERNEL_ARGS")]
    [InlineData(-60, "CL_INVALID_GL_OBJECT")]
    [InlineData(-63, "CL_INVALID_GLOBAL_WORK_SIZE")]
    [InlineData(-1001, "CL_PLATFORM_NOT_FOUND_KHR")]
    [InlineData(-12345, "CL_ERROR")]
    public void Name_IsTheCName(int status, string name) => Assert.Equal(name, ClException.Name(status));

    [Fact]
    public void Message_NamesTheCallAndTheError() =>
        Assert.Equal("clFinish failed with CL_INVALID_COMMAND_QUEUE (-36)", new ClException("clFinish", -36).Message);
}
