using System;
using System.Runtime.InteropServices;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>A device buffer of 32-bit elements (float or int). Slices of an arena are sub-buffers.</summary>
public sealed class DeviceBuffer : IDisposable
{
    private readonly Device _device;
    private readonly DeviceBuffer? _arena;

    /// <summary>The staging memory of <see cref="Upload{T}"/> and the event of its queued write, while one may run.</summary>
    private byte[]? _staging;
    private nint _uploaded;

    private DeviceBuffer(Device device, nint handle, long elements, bool isInt, bool owned, DeviceBuffer? arena = null)
    {
        _device = device;
        _arena = arena;
        Handle = handle;
        Elements = elements;
        IsInt = isInt;
        Owned = owned;
    }

    internal nint Handle { get; }
    public long Elements { get; }
    public bool IsInt { get; }
    public long Bytes => Elements * 4;

    /// <summary>False for sub-buffers, whose memory belongs to their arena.</summary>
    public bool Owned { get; }

    /// <summary>
    /// Counts the host's writes and fills of this buffer, and of its slices for an arena (a slice's write counts in its
    /// arena too): what a model compares to know whether its parameters changed. Kernels' writes are not counted.
    /// </summary>
    public long Writes { get; private set; }

    private void Wrote()
    {
        Writes++;
        if (_arena is not null) _arena.Writes++;
    }

    public static DeviceBuffer Allocate(Device device, long elements, bool isInt = false)
    {
        var bytes = Math.Max(4, checked(elements * 4));
        var handle = Cl.CreateBuffer(device.Context, (nuint)bytes, out var status);
        ClException.Check(status, $"clCreateBuffer ({bytes} bytes)");
        var buffer = new DeviceBuffer(device, handle, elements, isInt, owned: true);
        buffer.Fill(0f);
        return buffer;
    }

    /// <summary>A view of <paramref name="count"/> elements at <paramref name="offset"/> (aligned as the device requires).</summary>
    public unsafe DeviceBuffer Slice(long offset, long count)
    {
        var region = stackalloc nuint[2];
        region[0] = (nuint)(offset * 4);
        region[1] = (nuint)(Math.Max(1, count) * 4);
        var handle = Cl.CreateSubBuffer(Handle, region, out var status);
        ClException.Check(status, $"clCreateSubBuffer (offset {offset * 4} bytes, alignment {_device.BaseAddressAlignBytes})");
        return new DeviceBuffer(_device, handle, count, IsInt, owned: false, arena: this);
    }

    public unsafe void Fill(float value)
    {
        if (Elements == 0) return;
        var pattern = value;
        Wrote();
        ClException.Check(Cl.EnqueueFillBuffer(_device.Queue, Handle, &pattern, 4, 0, (nuint)(Elements * 4)), "clEnqueueFillBuffer");
    }

    /// <summary>A blocking upload: it returns once the device holds the data (the span may move after it returns).</summary>
    public unsafe void Write<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        if (data.Length * sizeof(T) != Elements * 4)
            throw new ArgumentException($"expected {Elements} elements, got {data.Length}");
        Wrote();
        fixed (T* p = data)
            ClException.Check(Cl.EnqueueWriteBuffer(_device.Queue, Handle, true, 0, (nuint)(Elements * 4), p), "clEnqueueWriteBuffer");
    }

    /// <summary>The most bytes <see cref="Upload{T}"/> stages (1 MiB); a larger upload is a blocking <see cref="Write{T}"/>.</summary>
    public const int StagedBytes = 1 << 20;

    /// <summary>
    /// An upload that does not wait for the device, up to <see cref="StagedBytes"/>: the data is copied into staging
    /// memory of this buffer's own (allocated at its first upload, GC-pinned: the queued write reads it) and the write
    /// queued, so the launches queued after it see the data while the host goes on. A blocking write waits for the
    /// queue's worker: on PoCL 3.1 (2-core EPYC) 25–30 µs whatever the size, two round trips of a 0.37 ms MLP forward
    /// pass (its images and labels). The next upload first waits until this write has read the staging memory (long
    /// done, normally). A larger upload is a blocking write: a second copy of tens of megabytes costs more than the wait.
    /// </summary>
    public unsafe void Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        if (data.Length * sizeof(T) != Elements * 4)
            throw new ArgumentException($"expected {Elements} elements, got {data.Length}");
        if (Bytes > StagedBytes)
        {
            Write(data);
            return;
        }
        Wrote();
        WaitForUpload();
        _staging ??= GC.AllocateUninitializedArray<byte>((int)Bytes, pinned: true);
        MemoryMarshal.AsBytes(data).CopyTo(_staging);
        fixed (byte* p = _staging)
            ClException.Check(Cl.EnqueueWriteBuffer(_device.Queue, Handle, 0, (nuint)Bytes, p, out _uploaded),
                "clEnqueueWriteBuffer");
    }

    private void WaitForUpload()
    {
        if (_uploaded == 0) return;
        var (done, status) = (_uploaded, Cl.WaitForEvent(_uploaded));
        _uploaded = 0;
        Cl.ReleaseEvent(done);
        ClException.Check(status, "clWaitForEvents (the previous upload of this buffer)");
    }

    /// <summary>Blocking download (waits for the launches queued before it).</summary>
    public unsafe void Read<T>(Span<T> destination) where T : unmanaged
    {
        if (destination.Length * sizeof(T) != Elements * 4)
            throw new ArgumentException($"expected {Elements} elements, got {destination.Length}");
        fixed (T* p = destination)
            ClException.Check(Cl.EnqueueReadBuffer(_device.Queue, Handle, true, 0, (nuint)(Elements * 4), p), "clEnqueueReadBuffer");
    }

    public float[] ReadFloats()
    {
        var result = new float[Elements];
        Read<float>(result);
        return result;
    }

    public void Dispose()
    {
        try
        {
            WaitForUpload(); // the staging memory must outlive the write that reads it
        }
        catch (ClException)
        {
            // A failed upload has nothing left to read; the buffer is released all the same.
        }
        finally
        {
            Cl.ReleaseMemObject(Handle);
        }
    }
}
