using System;
using System.Runtime.InteropServices;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>
/// The few MPI calls data-parallel training makes, bound to Open MPI's <c>libmpi.so.40</c> by hand. MPI.NET 1.4.0
/// (the registry's MPI binding) is not used: its <c>MPI.Unsafe</c> imports <c>msmpi.dll</c> (Microsoft MPI) and its
/// handles are MPICH-style integers (<c>MPI_COMM_WORLD = 0x44000000</c>), while Open MPI's handles are the addresses of
/// exported structures (<c>&amp;ompi_mpi_comm_world</c>), so it cannot run on Linux's Open MPI at all. Every call's
/// status is checked and turned into a <see cref="DistributedException"/> that names the call and MPI's own text.
/// The library is loaded on first use only: a single-process run never touches it.
/// </summary>
internal static unsafe class OpenMpi
{
    public const int ThreadSerialized = 2;
    private static nint _lib;

    public static nint CommWorld, Float, Double, LongLong, Sum, Min, Max, ErrorsReturn;
    public static readonly nint InPlace = 1; // Open MPI's MPI_IN_PLACE is (void*)1

    private static delegate* unmanaged<int*, int> _initialized;
    private static delegate* unmanaged<int*, nint*, int, int*, int> _initThread;
    private static delegate* unmanaged<nint, int*, int> _commRank, _commSize;
    private static delegate* unmanaged<nint, nint, int> _commSetErrhandler;
    private static delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int> _iallreduce;
    private static delegate* unmanaged<nint, int, nint, int, nint, nint*, int> _ibcast;
    private static delegate* unmanaged<nint*, int*, nint, int> _test;
    private static delegate* unmanaged<int> _finalize;
    private static delegate* unmanaged<nint, int, int> _abort;
    private static delegate* unmanaged<int, byte*, int*, int> _errorString;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    /// <summary>Loads libmpi with RTLD_GLOBAL (Open MPI's plugins resolve its symbols from the global scope).</summary>
    public static void Load()
    {
        if (_lib != 0) return;
        const int RtldNowGlobal = 0x2 | 0x100;
        foreach (var name in new[] { "libmpi.so.40", "libmpi.so" })
            if ((_lib = DlOpen(name, RtldNowGlobal)) != 0) break;
        if (_lib == 0)
            throw new DistributedException("Open MPI's libmpi.so.40 could not be loaded: install openmpi-bin and libopenmpi-dev "
                + "(Debian/Ubuntu), or run without --distributed");
        nint Get(string symbol) => NativeLibrary.TryGetExport(_lib, symbol, out var a) ? a
            : throw new DistributedException($"libmpi has no '{symbol}': NeuroDsl's MPI binding needs Open MPI 4 or later");
        CommWorld = Get("ompi_mpi_comm_world");
        Float = Get("ompi_mpi_float");
        Double = Get("ompi_mpi_double");
        LongLong = Get("ompi_mpi_long_long_int");
        Sum = Get("ompi_mpi_op_sum");
        Min = Get("ompi_mpi_op_min");
        Max = Get("ompi_mpi_op_max");
        ErrorsReturn = Get("ompi_mpi_errors_return");
        _initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        _initThread = (delegate* unmanaged<int*, nint*, int, int*, int>)Get("MPI_Init_thread");
        _commRank = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_rank");
        _commSize = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_size");
        _commSetErrhandler = (delegate* unmanaged<nint, nint, int>)Get("MPI_Comm_set_errhandler");
        _iallreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, nint*, int>)Get("MPI_Iallreduce");
        _ibcast = (delegate* unmanaged<nint, int, nint, int, nint, nint*, int>)Get("MPI_Ibcast");
        _test = (delegate* unmanaged<nint*, int*, nint, int>)Get("MPI_Test");
        _finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        _abort = (delegate* unmanaged<nint, int, int>)Get("MPI_Abort");
        _errorString = (delegate* unmanaged<int, byte*, int*, int>)Get("MPI_Error_string");
    }

    public static void Check(int code, string call)
    {
        if (code != 0) throw new DistributedException($"{call} failed: {ErrorText(code)}");
    }

    public static string ErrorText(int code)
    {
        var text = stackalloc byte[512]; // MPI_MAX_ERROR_STRING is 256 in Open MPI
        var length = 0;
        if (_errorString == null || _errorString(code, text, &length) != 0) return $"MPI error {code}";
        return $"MPI error {code} ({new string((sbyte*)text, 0, Math.Clamp(length, 0, 511))})";
    }

    public static bool Initialized()
    {
        int flag;
        Check(_initialized(&flag), "MPI_Initialized");
        return flag != 0;
    }

    public static int InitThread(int required)
    {
        int provided;
        Check(_initThread(null, null, required, &provided), "MPI_Init_thread");
        return provided;
    }

    public static int Rank()
    {
        int r;
        Check(_commRank(CommWorld, &r), "MPI_Comm_rank");
        return r;
    }

    public static int Size()
    {
        int s;
        Check(_commSize(CommWorld, &s), "MPI_Comm_size");
        return s;
    }

    public static void ReturnErrors() => Check(_commSetErrhandler(CommWorld, ErrorsReturn), "MPI_Comm_set_errhandler");

    public static nint Iallreduce(nint data, int count, nint type, nint op)
    {
        nint request;
        Check(_iallreduce(InPlace, data, count, type, op, CommWorld, &request), "MPI_Iallreduce");
        return request;
    }

    public static nint Ibcast(nint data, int count, nint type, int root)
    {
        nint request;
        Check(_ibcast(data, count, type, root, CommWorld, &request), "MPI_Ibcast");
        return request;
    }

    /// <summary>True once the request completed (MPI then frees it and sets it to MPI_REQUEST_NULL).</summary>
    public static bool Test(ref nint request)
    {
        int flag;
        fixed (nint* r = &request) Check(_test(r, &flag, 0), "MPI_Test");
        return flag != 0;
    }

    public static void FinalizeMpi() => Check(_finalize(), "MPI_Finalize");

    public static void Abort(int code) => _abort(CommWorld, code);
}
