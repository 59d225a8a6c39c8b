using System;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace NeuroDsl.Cli.Cards;

/// <summary>Renders the architecture diagram (the DOT text of <c>neurodsl graph</c>) to SVG with Graphviz's <c>dot</c>.</summary>
public static partial class Graphviz
{
    /// <summary>The SVG, or null with the reason when <c>dot</c> is not installed or fails.</summary>
    public static string? Svg(string dot, out string? problem)
    {
        problem = null;
        var info = new ProcessStartInfo("dot", "-Tsvg")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            problem = "the diagram needs Graphviz's 'dot' (Debian: apt-get install graphviz); its DOT text follows";
            return null;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(dot);
            process.StandardInput.Close();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                problem = "dot failed: " + stderr.Result.Trim();
                return null;
            }
            // Inline SVG: drop the XML prologue and DOCTYPE, which belong to a standalone file.
            var svg = stdout.Result;
            var start = svg.IndexOf("<svg", StringComparison.Ordinal);
            return start < 0 ? svg : Comments().Replace(svg[start..], "");
        }
    }

    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline)]
    private static partial Regex Comments();
}
