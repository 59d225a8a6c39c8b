using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Emit;

namespace NeuroDsl.Cli.Cards;

/// <summary>
/// Writes a model card: one self-contained HTML page (inline CSS and SVG, no script, no network) for one .nd file.
/// </summary>
public static class CardPage
{
    /// <summary>What a card shows about one file; sections come from the diagram, plots and visual modules.</summary>
    public sealed record Content(string FileName, string Source, IReadOnlyList<ModelOutput> Models,
        IReadOnlyDictionary<string, string> Diagrams, IReadOnlyList<CardSection> Visuals, DemoFigures? Figures, string? FiguresNote);

    public static string Title(IReadOnlyList<ModelOutput> models) =>
        models.Select(m => m.Ir.Paper.Title).FirstOrDefault(t => t is not null) ?? string.Join(", ", models.Select(m => m.Name));

    public static string Html(Content card)
    {
        var paper = card.Models.Select(m => m.Ir.Paper).FirstOrDefault(p => p.Title is not null);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append($"<title>{E(Title(card.Models))} — NeuroDsl model card</title>\n<style>{Style}</style>\n</head>\n<body>\n<header>\n");
        html.Append($"<p class=\"file\">{E(card.FileName)} · {E(string.Join(", ", card.Models.Select(m => m.Name)))}</p>\n");
        html.Append($"<h1>{E(Title(card.Models))}</h1>\n");
        if (paper is not null)
            html.Append($"<p class=\"paper\">{E(paper.Authors ?? "")}{(paper.Year is { } y ? " · " + y.ToString(CultureInfo.InvariantCulture) : "")}</p>\n");
        else html.Append("<p class=\"paper\">No paper line: a model of this project, not of one paper.</p>\n");
        html.Append("</header>\n");

        foreach (var m in card.Models)
        {
            var name = card.Models.Count > 1 ? " — " + m.Name : "";
            html.Append($"<section id=\"architecture-{E(m.Name)}\">\n<h2>Architecture{E(name)}</h2>\n");
            html.Append(card.Diagrams.TryGetValue(m.Name, out var diagram) ? $"<div class=\"diagram\">{diagram}</div>\n" : "");
            html.Append("</section>\n");
            html.Append($"<section id=\"summary-{E(m.Name)}\">\n<h2>Summary{E(name)}</h2>\n<pre>{E(SummaryWriter.Text(m.Ir, m.Plan))}</pre>\n");
            html.Append(ExpectTable(m)).Append("</section>\n");
        }

        var model = card.Models.FirstOrDefault(m => LayerCode.Of(m) is not null);
        if (model is not null && LayerCode.Of(model) is { } code)
        {
            html.Append("<section id=\"code\">\n<h2>Generated code of one layer</h2>\n");
            html.Append($"<p>{E(card.FileName)}:{code.Line} of {E(model.Name)}:</p>\n<pre class=\"nd\">{E(code.Source)}</pre>\n");
            html.Append("<p>Its launches in the generated <code>Forward()</code> (C#):</p>\n")
                .Append($"<pre class=\"code\">{E(code.Launches)}</pre>\n");
            if (code.Kernels.Length > 0)
                html.Append("<p>The kernels they run (generated OpenCL C):</p>\n").Append($"<pre class=\"code\">{E(code.Kernels)}</pre>\n");
            html.Append("</section>\n");
        }

        foreach (var (v, i) in card.Visuals.Select((v, i) => (v, i)))
            html.Append($"<section class=\"visual\" id=\"visual{(i == 0 ? "" : "-" + (i + 1))}\">\n<h2>{E(v.Heading)}</h2>\n<p>{Md(v.Text)}</p>\n{v.Html}\n</section>\n");

        if (card.Figures is { } f)
        {
            html.Append($"<section id=\"figures\">\n<h2>{(f.Demo == "training" ? "Training curves" : "The paper's experiment, run here")}</h2>\n");
            html.Append($"<p>Command: <code>{E(f.Command)}</code><br>Setup: {E(f.Setup)}</p>\n");
            if (f.Facts.Count > 0)
            {
                html.Append("<table class=\"facts\">\n");
                foreach (var fact in f.Facts) html.Append($"<tr><th>{E(fact.Name)}</th><td>{E(fact.Value)}</td></tr>\n");
                html.Append("</table>\n");
            }
            html.Append("<div class=\"row\">\n");
            foreach (var p in f.Plots)
                html.Append("<figure>").Append(Plots.Lines(p)).Append(p.Caption is null ? "" : $"<figcaption>{E(p.Caption)}</figcaption>").Append("</figure>\n");
            html.Append("</div>\n</section>\n");
        }
        else if (card.FiguresNote is not null)
            html.Append($"<section id=\"figures\">\n<h2>Training curves</h2>\n<p>{Md(card.FiguresNote)}</p>\n</section>\n");

        html.Append($"<section id=\"source\">\n<h2>The model file</h2>\n<pre class=\"nd\">{E(card.Source)}</pre>\n</section>\n");
        html.Append("<footer>Written by <code>neurodsl card</code>. Plots: ScottPlot (SVG); diagram: Graphviz.</footer>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>The expect lines: the paper's figure beside the one computed from the model.</summary>
    private static string ExpectTable(ModelOutput m)
    {
        if (m.Ir.Expects.Count == 0) return "<p>No expect lines: nothing from the paper to compare.</p>\n";
        var t = new StringBuilder("<h3>The paper's figures beside ours</h3>\n<table class=\"expects\">\n<tr><th>line</th><th>expect</th><th>paper</th><th>ours</th><th>holds</th></tr>\n");
        foreach (var e in m.Ir.Expects)
            t.Append($"<tr><td>{e.Line}</td><td><code>{E(m.Ir.Source[e.Line])}</code></td><td>{E(e.Paper)}</td><td>{E(e.Computed)}</td><td class=\"ok\">✓</td></tr>\n");
        return t.Append("</table>\n<p class=\"note\">The compiler checks every expect line: one that does not hold is a compile error, and no card is written.</p>\n").ToString();
    }

    /// <summary>The index of a folder of cards.</summary>
    public static string Index(IReadOnlyList<(string Href, string Title, IReadOnlyList<ModelOutput> Models)> cards, IReadOnlyList<string> failed)
    {
        var html = new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>NeuroDsl model cards</title>\n")
            .Append($"<style>{Style}</style>\n</head>\n<body>\n<header><h1>NeuroDsl model cards</h1><p class=\"paper\">{cards.Count} model files</p></header>\n");
        html.Append("<table class=\"index\">\n<tr><th>paper</th><th>authors</th><th>year</th><th>models</th><th>parameters</th></tr>\n");
        foreach (var (href, title, models) in cards)
        {
            var paper = models.Select(m => m.Ir.Paper).FirstOrDefault(p => p.Title is not null);
            html.Append($"<tr><td><a href=\"{E(href)}\">{E(title)}</a></td><td>{E(paper?.Authors ?? "")}</td><td>{paper?.Year}</td>")
                .Append($"<td>{E(string.Join(", ", models.Select(m => m.Name)))}</td>")
                .Append($"<td class=\"num\">{E(string.Join(", ", models.Select(m => m.Ir.Graph.TrainableParameterCount.ToString("N0", CultureInfo.InvariantCulture))))}</td></tr>\n");
        }
        html.Append("</table>\n");
        if (failed.Count > 0) html.Append($"<p>Not compiled (see the diagnostics): {E(string.Join(", ", failed))}</p>\n");
        return html.Append("</body>\n</html>\n").ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>Escapes text and turns `code` spans into &lt;code&gt;.</summary>
    private static string Md(string text)
    {
        var parts = E(text).Split('`');
        return string.Concat(parts.Select((p, i) => i % 2 == 1 ? $"<code>{p}</code>" : p));
    }

    private const string Style = """
        body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
        header { border-bottom: 2px solid #333; margin-bottom: 1em; }
        h1 { margin: 0.2em 0; } .paper { color: #555; font-size: 1.1em; } .file { color: #777; font-family: monospace; }
        section { margin: 1.5em 0; } h2 { border-bottom: 1px solid #ccc; }
        pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
        pre.nd { background: #eef6ee; }
        table { border-collapse: collapse; margin: 0.5em 0; } th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
        td.ok { color: #070; font-weight: bold; text-align: center; } td.num { text-align: right; }
        .diagram svg { max-width: 100%; height: auto; max-height: 1200px; }
        .row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
        figure { margin: 0; } figcaption { text-align: center; font-size: 0.9em; color: #444; }
        .mosaic svg, .mosaic image, .mosaic use, .mosaic pattern { image-rendering: pixelated; } .note { color: #666; font-size: 0.9em; }
        footer { color: #777; border-top: 1px solid #ccc; margin-top: 2em; padding-top: 0.5em; font-size: 0.9em; }
        """;
}
