namespace NeuroDsl.Cli;

/// <summary>
/// BSD sysexits, as the CLI promises: 0 ok, 64 usage, 65 bad input (diagnostics, an i32 input out of range) or numbers
/// gone wrong (a non-finite loss, a layer --check-numerics names), 66 no file, 69 no device or a model too large for
/// it, 70 internal.
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 64;
    public const int DataError = 65;
    public const int NoInput = 66;
    public const int Internal = 70;
    public const int Unavailable = 69;
}
