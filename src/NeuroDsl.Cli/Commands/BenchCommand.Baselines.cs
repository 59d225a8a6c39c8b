using System.Diagnostics;
using System.Linq;

namespace NeuroDsl.Cli.Commands;

/// <summary>The baselines' side of <c>neurodsl bench</c>: tests/Baselines/bench_baselines.py run with Debian's Python.</summary>
internal static partial class BenchCommand
{
    /// <param name="cases">Comma-separated case names for the script, or null for all of them.</param>
    private static System.Text.Json.JsonDocument? RunBaselines(string? cases, out string why)
    {
        why = "";
        var script = System.IO.Path.Combine("tests", "Baselines", "bench_baselines.py");
        if (!System.IO.File.Exists("/usr/bin/python3") || !System.IO.File.Exists(script))
        {
            why = $"/usr/bin/python3 or {script} not found (run from the repository root; 'bash .ci/bench-setup' installs the baselines)";
            return null;
        }
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        if (cases is not null) info.ArgumentList.Add(cases);
        info.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        info.Environment.Remove("OPENBLAS_CORETYPE");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        try
        {
            var doc = System.Text.Json.JsonDocument.Parse(stdout);
            if (doc.RootElement.TryGetProperty("torch_error", out var te)) why = "PyTorch: " + te.GetString() + " (run 'bash .ci/bench-setup')";
            if (doc.RootElement.TryGetProperty("numpy_error", out var ne)) why = "numpy: " + ne.GetString() + " (run 'bash .ci/bench-setup')";
            return doc;
        }
        catch (System.Text.Json.JsonException)
        {
            why = "the baseline script failed: " + stderr.Trim().Split('\n').LastOrDefault();
            return null;
        }
    }
}
