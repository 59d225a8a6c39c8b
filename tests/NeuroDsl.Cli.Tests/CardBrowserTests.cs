using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SkiaSharp;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// Model cards in a real browser: Debian's headless chromium (installed by .ci/setup) loads the page from a file, logs
/// every console message (none is allowed: the page has no script, so any message is a load or parse error), dumps the
/// DOM it built, and takes a screenshot, kept under the test output (card-screenshots/) for a person to look at.
/// </summary>
public sealed class CardBrowserTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("card-browser").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly Lazy<string?> Chromium = new(() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists));

    private static (string Stdout, string Log) Browse(string page, params string[] mode)
    {
        var info = new ProcessStartInfo(Chromium.Value!)
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                     "--window-size=1280,2400", "--user-data-dir=" + Path.Combine(Path.GetTempPath(), "card-chromium-profile") }.Concat(mode))
            info.ArgumentList.Add(a);
        info.ArgumentList.Add(new Uri(page).AbsoluteUri);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) p.Kill(true);
        return (stdout.Result, stderr.Result);
    }

    /// <summary>The console messages chromium logged for the page ([…:INFO:CONSOLE:…] "text", source: …).</summary>
    private static string[] ConsoleMessages(string log) =>
        log.Split('\n').Where(l => l.Contains(":CONSOLE", StringComparison.Ordinal)).ToArray();

    [SkippableFact]
    public void ConsoleCheck_SeesAnError_OnAPageThatLogsOne()
    {
        Skip.If(Chromium.Value is null, "needs Debian's chromium (bash .ci/setup installs it)");
        var page = Path.Combine(_dir, "bad.html");
        File.WriteAllText(page, "<!DOCTYPE html><html><body><p>x</p><script>console.error('card-check-' + 42)</script></body></html>");
        var (_, log) = Browse(page, "--dump-dom");
        Assert.Contains(ConsoleMessages(log), m => m.Contains("card-check-42", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void LeNetCard_RendersInChromium_WithNoConsoleMessages_AndAScreenshot()
    {
        Skip.If(Chromium.Value is null, "needs Debian's chromium (bash .ci/setup installs it)");
        var page = Path.Combine(_dir, "lenet5.html");
        var (code, _, err) = CliTests.Run("card", CliTests.Model("lenet5.nd"), "-o", page, "--checkpoint", Path.Combine(_dir, "none"));
        Assert.True(code == 0, err);

        var (dom, log) = Browse(page, "--dump-dom");
        Assert.Empty(ConsoleMessages(log));
        // The browser parsed the page into what the card wrote: sections, the table, the inline SVG diagram.
        Assert.Contains("<h1>Gradient-Based Learning Applied to Document Recognition</h1>", dom);
        Assert.True(Regex.Matches(dom, "<section").Count >= 5, "sections");
        Assert.Contains("<svg", dom);

        var shots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "card-screenshots")).FullName;
        var png = Path.Combine(shots, "lenet5.png");
        File.Delete(png);
        var (_, shotLog) = Browse(page, "--screenshot=" + png);
        Assert.Empty(ConsoleMessages(shotLog));
        Assert.True(File.Exists(png), shotLog);
        // Rendered, not blank: a good share of the pixels are ink (text, diagram, tables), and some are coloured.
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(1280, bitmap.Width);
        var (ink, colour) = (0, 0);
        for (var y = 0; y < bitmap.Height; y += 2)
            for (var x = 0; x < bitmap.Width; x += 2)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Red < 200 || c.Green < 200 || c.Blue < 200) ink++;
                if (Math.Abs(c.Red - c.Blue) > 20 || Math.Abs(c.Green - c.Blue) > 20) colour++;
            }
        var samples = bitmap.Width * bitmap.Height / 4;
        Assert.InRange(ink, samples / 100, samples / 2);
        Assert.True(colour > 100, $"{colour} coloured pixels");
    }
}
