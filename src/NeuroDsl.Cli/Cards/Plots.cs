using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using ScottPlot;

namespace NeuroDsl.Cli.Cards;

/// <summary>
/// The card's plots, drawn by ScottPlot and exported as SVG for inlining. Each SVG's ids are prefixed so that many
/// plots can share one page (ScottPlot names its clip paths alike in every export).
/// </summary>
public static partial class Plots
{
    private static int _counter;

    public const int Width = 640;
    public const int Height = 380;

    /// <summary>Curves of one <see cref="LinePlot"/>, with markers when a curve has few points.</summary>
    public static string Lines(LinePlot figure)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var i = 0;
        foreach (var s in figure.Series)
        {
            var scatter = plot.Add.Scatter(s.X, s.Y);
            scatter.LegendText = s.Label;
            scatter.Color = palette.GetColor(i++);
            scatter.LineWidth = 2;
            scatter.MarkerSize = s.X.Length <= 30 ? 5 : 0;
        }
        plot.Title(figure.Title);
        plot.XLabel(figure.XLabel);
        plot.YLabel(figure.YLabel);
        if (figure.Series.Count > 1) plot.ShowLegend(Edge.Bottom);
        return Svg(plot, Width, figure.Series.Count > 1 ? Height + 25 * ((figure.Series.Count + 1) / 2) : Height);
    }

    /// <summary>
    /// Labelled points of two classes with straight lines w·x + b = 0, drawn from faint (early) to dark (late) when
    /// <paramref name="fade"/>, else each in its own colour.
    /// </summary>
    public static string Boundaries(string title, string xLabel, string yLabel, double[] x, double[] y, bool[] positive,
        IReadOnlyList<(double W1, double W2, double B, string Label)> lines, (double Min, double Max) range,
        (string Positive, string Negative) classes, bool fade = true)
    {
        var plot = new Plot();
        var pos = plot.Add.ScatterPoints(Pick(x, positive, true), Pick(y, positive, true));
        pos.LegendText = classes.Positive;
        pos.Color = Colors.C0;
        pos.MarkerSize = 8;
        var neg = plot.Add.ScatterPoints(Pick(x, positive, false), Pick(y, positive, false));
        neg.LegendText = classes.Negative;
        neg.Color = Colors.C1;
        neg.MarkerShape = MarkerShape.FilledSquare;
        neg.MarkerSize = 8;
        var colormap = new ScottPlot.Colormaps.Viridis();
        for (var k = 0; k < lines.Count; k++)
        {
            var (w1, w2, b, label) = lines[k];
            var fraction = lines.Count == 1 ? 1 : (double)k / (lines.Count - 1);
            // w1·x + w2·y + b = 0, drawn across the range (vertical when w2 is 0).
            Coordinates p1, p2;
            if (Math.Abs(w2) > 1e-12 * Math.Max(1, Math.Abs(w1)))
            {
                p1 = new Coordinates(range.Min, -(w1 * range.Min + b) / w2);
                p2 = new Coordinates(range.Max, -(w1 * range.Max + b) / w2);
            }
            else if (Math.Abs(w1) > 0)
            {
                p1 = new Coordinates(-b / w1, range.Min);
                p2 = new Coordinates(-b / w1, range.Max);
            }
            else continue;
            var line = plot.Add.Line(p1, p2);
            line.Color = fade ? colormap.GetColor(0.9 * (1 - fraction)).WithAlpha(0.35 + 0.65 * fraction) : Colors.Category10[(k + 2) % 10];
            line.LineWidth = !fade || k == lines.Count - 1 ? 3 : 1.5f;
            line.LegendText = label;
        }
        plot.Axes.SetLimits(range.Min, range.Max, range.Min, range.Max);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Bottom);
        return Svg(plot, 520, 600);
    }

    /// <summary>
    /// Small images side by side in one heatmap (a mosaic with a one-pixel gap), each scaled to its own range so that
    /// every map shows its pattern: filters, feature maps.
    /// </summary>
    public static string Mosaic(string title, IReadOnlyList<double[,]> tiles, int columns, int cellPixels)
    {
        var h = tiles.Max(t => t.GetLength(0));
        var w = tiles.Max(t => t.GetLength(1));
        var rows = (tiles.Count + columns - 1) / columns;
        var grid = new double[rows * (h + 1) - 1, columns * (w + 1) - 1];
        for (var r = 0; r < grid.GetLength(0); r++)
            for (var c = 0; c < grid.GetLength(1); c++)
                grid[r, c] = double.NaN;
        for (var t = 0; t < tiles.Count; t++)
        {
            var tile = tiles[t];
            var values = tile.Cast<double>().ToArray();
            var (lo, hi) = (values.Min(), values.Max());
            var span = hi - lo > 1e-12 ? hi - lo : 1;
            var (r0, c0) = (t / columns * (h + 1), t % columns * (w + 1));
            for (var r = 0; r < tile.GetLength(0); r++)
                for (var c = 0; c < tile.GetLength(1); c++)
                    grid[r0 + r, c0 + c] = (tile[r, c] - lo) / span;
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(grid);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.NaNCellColor = Colors.White;
        plot.Axes.Frameless();
        plot.HideGrid();
        var svg = Svg(plot, grid.GetLength(1) * cellPixels, grid.GetLength(0) * cellPixels);
        return $"<figure class=\"mosaic\">{svg}<figcaption>{System.Net.WebUtility.HtmlEncode(title)}</figcaption></figure>";
    }

    private static double[] Pick(double[] values, bool[] mask, bool want) =>
        values.Where((_, i) => mask[i] == want).ToArray();

    private static string Svg(Plot plot, int width = Width, int height = Height)
    {
        var svg = plot.GetSvgXml(width, height);
        svg = XmlDeclaration().Replace(svg, "");
        var prefix = "p" + System.Threading.Interlocked.Increment(ref _counter) + "_";
        svg = IdAttribute().Replace(svg, m => m.Groups[1].Value + "=\"" + prefix + m.Groups[2].Value + "\"");
        return UrlReference().Replace(svg, m => "url(#" + prefix + m.Groups[1].Value + ")")
            .Replace("href=\"#", "href=\"#" + prefix);
    }

    [GeneratedRegex(@"<\?xml[^>]*\?>\s*")]
    private static partial Regex XmlDeclaration();

    [GeneratedRegex(@"\b(id)=""([^""]+)""")]
    private static partial Regex IdAttribute();

    [GeneratedRegex(@"url\(#([^)]+)\)")]
    private static partial Regex UrlReference();
}
