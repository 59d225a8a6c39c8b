using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using System.Linq;

namespace NeuroDsl.Cli;

/// <summary>
/// The shared pieces of every command: the FILE argument, --model, checked numeric options, examples in the help,
/// and <see cref="Invoke"/>, which turns parse errors and failures into one line and an exit code.
/// </summary>
internal static class CommandLine
{
    private static readonly Dictionary<Command, string[]> ExamplesOf = new();

    public static Argument<string> FileArgument(string description = "a model file (.nd)") =>
        new("FILE") { Description = description };

    public static Option<string?> ModelOption() => new("--model", "-m")
    {
        Description = "the model to use when FILE declares several (default: the first, with a note)",
        HelpName = "NAME",
    };

    /// <summary>An integer option that must be positive (a batch, a count); absent means null.</summary>
    public static Option<int?> PositiveInt(string name, string description, string helpName = "N") => new(name)
    {
        Description = description,
        HelpName = helpName,
        // Parsed here, not by the default parser: its failure reads "as expected type 'System.Nullable`1[…]'", and a
        // validator that asks for the value of a token that did not parse throws.
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0) return v;
            r.AddError($"{name} takes a positive integer, not '{text}'");
            return null;
        },
    };

    /// <summary>A number option that must be positive (a learning rate).</summary>
    public static Option<double?> PositiveDouble(string name, string description, string helpName = "X") => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v)) return v;
            r.AddError($"{name} takes a positive number, not '{text}'");
            return null;
        },
    };

    /// <summary>Examples shown at the end of the command's help.</summary>
    public static Command WithExamples(this Command command, params string[] examples)
    {
        ExamplesOf[command] = examples;
        return command;
    }

    /// <summary>Parses and runs a command line: parse errors, help and failures each end in one exit code.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var help = root.Options.OfType<HelpOption>().First();
        if (help.Action is HelpAction action) help.Action = new HelpWithExamples(action);
        var result = root.Parse(args);
        if (result.Action is ParseErrorAction || (result.Errors.Count > 0 && result.Action is not HelpWithExamples))
            return ReportParseError(result);
        try
        {
            return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Failures.Report(e, CommandPath(result.CommandResult));
        }
    }

    /// <summary>System.CommandLine's help, then the command's examples (and for the root, exit codes and environment).</summary>
    private sealed class HelpWithExamples(HelpAction inner) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult result)
        {
            inner.Invoke(result);
            var command = result.CommandResult.Command;
            var output = result.InvocationConfiguration.Output;
            if (ExamplesOf.TryGetValue(command, out var examples))
            {
                output.WriteLine("Examples:");
                foreach (var e in examples) output.WriteLine("  " + e);
                output.WriteLine();
            }
            if (command is RootCommand)
            {
                output.Write(ExitCodes.Text());
                output.WriteLine();
                output.Write(EnvironmentHelp);
            }
            return ExitCodes.Ok;
        }
    }

    private const string EnvironmentHelp = """
        Environment: NEURODSL_DEVICE (device index or name substring; 'neurodsl devices' lists them), NEURODSL_CACHE
        (cache directory: OpenCL programs, and compiled models under assemblies/), NEURODSL_PROGRAM_BINARIES=1|0 (keep
        OpenCL binaries there, or not; by default not on PoCL, whose own kernel cache keeps them), NEURODSL_PROFILE=1
        (time every kernel; slow), NEURODSL_SHAPES=gpu|cpu (the convolution, pooling and attention kernels' form; default:
        gpu on a GPU), NEURODSL_GEMM=gpu|cpu (the GEMM's), NEURODSL_ROW_LANES / NEURODSL_LANES (work-items per row of a row
        kernel, elements per work-item of an elementwise one: powers of two; they override what neurodsl tune chose),
        NEURODSL_GPU_GROUP (the work-group of the GPU shapes' launches, a power of two), NEURODSL_CONV_PIXELS (the most
        output pixels per work-item of the direct convolution: a power of two up to 16), NEURODSL_CHECK_NUMERICS=1 (as
        --check-numerics), NEURODSL_VERBOSE=1 (the OpenCL compiler's warnings on stderr, as --verbose), NEURODSL_TRACE=1
        (an internal error's stack trace, to report it), NEURODSL_ATTENTION=unfused (attention written as
        softmax(q·kᵀ/c + mask) @ v is compiled as written, storing the scores, instead of into streaming online-softmax
        kernels).
        Arguments can come from a response file: neurodsl @args.rsp (one or more tokens a line).
        Tab completion: install dotnet-suggest (see the README).

        """;

    /// <summary>
    /// One line per error (the first only: later ones usually follow from it), with the likely option for an
    /// unknown one, then where the command's help is.
    /// </summary>
    private static int ReportParseError(ParseResult result)
    {
        var command = result.CommandResult.Command;
        var path = CommandPath(result.CommandResult);
        var unmatched = result.UnmatchedTokens.FirstOrDefault();
        // An unknown word explains the other errors ("Required command was not provided" after a misspelt command).
        var error = result.Errors.FirstOrDefault(e => unmatched is not null && e.Message.Contains(unmatched, StringComparison.Ordinal))
                    ?? result.Errors[0];
        var message = error.Message;
        if (unmatched is not null && message.Contains(unmatched, StringComparison.Ordinal))
        {
            var known = command.Options.SelectMany(o => new[] { o.Name }.Concat(o.Aliases))
                .Concat(command.Subcommands.Select(c => c.Name)).ToList();
            var near = Nearest(unmatched, known);
            message = unmatched.StartsWith('-')
                ? $"'{path}' has no option {unmatched}" + (near is null ? "" : $"; did you mean {near}?")
                : command is RootCommand
                    ? $"unknown command '{unmatched}'" + (near is null ? "" : $"; did you mean '{near}'?")
                    : $"unexpected argument '{unmatched}' for '{path}'" + (near is null ? "" : $"; did you mean {near}?");
        }
        Console.Error.WriteLine("neurodsl: " + OneLine(message));
        Console.Error.WriteLine($"Run '{path} --help' for usage.");
        return ExitCodes.Usage;
    }

    /// <summary>
    /// A parser message as one line: System.CommandLine lists the accepted values of <c>AcceptOnlyFromAmong</c> one per
    /// line ("Must be one of:\n\t'a'\n\t'b'"); they become "must be one of: a, b".
    /// </summary>
    internal static string OneLine(string message)
    {
        var typed = System.Text.RegularExpressions.Regex.Match(message,
            @"^Cannot parse argument '(?<v>.*)' for option '(?<o>[^']+)' as expected type '(?<t>[^']+)'");
        if (typed.Success)
            return $"{typed.Groups["o"].Value} takes {Kind(typed.Groups["t"].Value)}, not '{typed.Groups["v"].Value}'";
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length <= 1) return message.Trim().TrimEnd('.');
        var head = lines[0].TrimEnd(':', ' ', '.');
        return $"{head}: {string.Join(", ", lines.Skip(1).Select(l => l.Trim('\'')))}";
    }

    private static string Kind(string type) => type switch
    {
        _ when type.Contains("Int32") || type.Contains("Int64") => "an integer",
        _ when type.Contains("Double") || type.Contains("Single") => "a number",
        _ when type.Contains("Boolean") => "true or false",
        _ => "another kind of value",
    };

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Insert(0, c.Command is RootCommand ? "neurodsl" : c.Command.Name);
        return string.Join(" ", names);
    }

    /// <summary>The closest name within an edit distance of a third of the word (at least 1), or null.</summary>
    internal static string? Nearest(string word, IEnumerable<string> candidates)
    {
        var best = candidates.Select(c => (Name: c, Distance: Distance(word, c)))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault();
        var limit = Math.Max(1, word.TrimStart('-').Length / 3);
        return best.Name is not null && best.Distance <= limit ? best.Name : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                // A swap of two neighbours counts once ("--jsno").
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    /// <summary>Formats a count with its noun: "1 epoch", "3 epochs".</summary>
    public static string Count(long n, string noun) =>
        n.ToString("N0", CultureInfo.InvariantCulture) + " " + (n == 1 ? noun : noun + "s");
}

/// <summary>A usage error: the message says what to change. Exit 64.</summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message) : base(message)
    {
    }
}

/// <summary>An output file or directory that cannot be written. Exit 73.</summary>
internal sealed class OutputException : Exception
{
    public OutputException(string message) : base(message)
    {
    }
}

/// <summary>A tool or device the command needs is missing. Exit 69.</summary>
internal sealed class UnavailableException : Exception
{
    public UnavailableException(string message) : base(message)
    {
    }
}
