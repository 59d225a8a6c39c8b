namespace NeuroDsl.Compiler.Diagnostics;

/// <summary>One row of the diagnostics table: a stable id (never reused), its stage and its message template.</summary>
public sealed record DiagnosticCode(string Id, string Stage, string Title, string Format);

/// <summary>
/// The one table of NeuroDsl diagnostics. Codes are grouped by stage: ND00xx syntax, ND01xx binding,
/// ND02xx shapes and types, ND03xx spec (`expect`), ND04xx names that reach generated code, ND09xx internal.
/// </summary>
public static class Codes
{
    // Syntax
    public static readonly DiagnosticCode SyntaxError = new("ND0001", "syntax", "Syntax error", "{0}");
    public static readonly DiagnosticCode BadNumber = new("ND0002", "syntax", "Bad number literal", "Write '{0}' as a number that fits in 64 bits");
    public static readonly DiagnosticCode EmptyFile = new("ND0003", "syntax", "Nothing to compile", "Declare at least one model");
    public static readonly DiagnosticCode NestingTooDeep = new("ND0004", "syntax", "Nesting too deep", "Nest expressions at most {0} deep");
    public static readonly DiagnosticCode UnterminatedString = new("ND0005", "syntax", "Unterminated string", "Close the string that starts here with '\"'");
    public static readonly DiagnosticCode UnclosedBracket = new("ND0006", "syntax", "Unclosed bracket", "Close the '{0}' opened here with '{1}'");
    public static readonly DiagnosticCode FileTooLarge = new("ND0007", "syntax", "File too large", "Keep a file within {0:N0} characters, not {1:N0}");

    // Binding and elaboration
    public static readonly DiagnosticCode UnknownName = new("ND0101", "binding", "Unknown name", "Define '{0}' before using it");
    public static readonly DiagnosticCode UnknownOp = new("ND0102", "binding", "Unknown op", "Use a known op or block instead of '{0}'");
    public static readonly DiagnosticCode ArgumentCount = new("ND0103", "binding", "Wrong argument count", "Pass {1} to '{0}', not {2}");
    public static readonly DiagnosticCode UnknownArgument = new("ND0104", "binding", "Unknown argument name", "Remove argument '{1}': '{0}' has no such parameter");
    public static readonly DiagnosticCode Duplicate = new("ND0105", "binding", "Duplicate definition", "Rename '{0}': it is already defined");
    public static readonly DiagnosticCode RecursiveBlock = new("ND0106", "binding", "Recursive block", "Break the cycle: block '{0}' uses itself");
    public static readonly DiagnosticCode NotConstant = new("ND0107", "binding", "Constant required", "Pass a constant for '{0}'");
    public static readonly DiagnosticCode WrongKind = new("ND0108", "binding", "Wrong kind of value", "Pass {1} for '{0}', not {2}");
    public static readonly DiagnosticCode MissingArgument = new("ND0109", "binding", "Missing argument", "Pass '{1}' to '{0}'");
    public static readonly DiagnosticCode NoOutput = new("ND0110", "binding", "Model has no output", "Mark a value with 'output' in model '{0}'");
    public static readonly DiagnosticCode BadStatement = new("ND0111", "binding", "Statement not allowed here", "{0}");
    public static readonly DiagnosticCode MissingReturn = new("ND0112", "binding", "Block returns nothing", "End block '{0}' with 'return'");
    public static readonly DiagnosticCode ArgumentRepeated = new("ND0113", "binding", "Argument given twice", "Pass '{1}' to '{0}' once");
    public static readonly DiagnosticCode LossNotScalar = new("ND0114", "binding", "Loss is not a scalar", "Reduce the loss to a scalar (use a loss op or mean)");
    public static readonly DiagnosticCode TwoLosses = new("ND0115", "binding", "Second loss", "Sum the terms into one 'loss' statement");
    public static readonly DiagnosticCode BadValue = new("ND0116", "binding", "Value out of range", "{0}");
    public static readonly DiagnosticCode ModelTooLarge = new("ND0117", "binding", "Model too large", "Make at most {0} ops in one model");

    // Shapes and types
    public static readonly DiagnosticCode ShapeMismatch = new("ND0201", "shape", "Shape mismatch", "Make the shapes of '{0}' agree");
    public static readonly DiagnosticCode RankMismatch = new("ND0202", "shape", "Wrong rank", "Pass a tensor of rank {1} to '{0}'");
    public static readonly DiagnosticCode DTypeMismatch = new("ND0203", "shape", "Wrong element type", "Pass {1} to '{0}', not {2}");
    public static readonly DiagnosticCode BadDimension = new("ND0204", "shape", "Bad dimension", "{0}");
    public static readonly DiagnosticCode SizeOverflow = new("ND0205", "shape", "Size too large", "Make '{0}' smaller: its sizes pass what 64 bits can count");

    // Spec
    public static readonly DiagnosticCode ExpectParams = new("ND0301", "spec", "Parameter count differs from expect", "Model has {1} parameters, not {0}");
    public static readonly DiagnosticCode ExpectShape = new("ND0302", "spec", "Shape differs from expect", "'{0}' has shape {2}, not {1}");
    public static readonly DiagnosticCode ExpectFlops = new("ND0303", "spec", "FLOPs differ from expect", "Model does {1} multiply-adds per example, not {0}");
    public static readonly DiagnosticCode ExpectUnknown = new("ND0304", "spec", "Unknown expectation", "{0}");
    public static readonly DiagnosticCode ExpectConnections = new("ND0305", "spec", "Connections differ from expect", "Model has {1} connections per example, not {0}");
    public static readonly DiagnosticCode ExpectTrainingFlops = new("ND0306", "spec", "Training compute differs from expect", "Training on {2} tokens takes {1} FLOPs (6 · parameters · tokens), not {0}");
    public static readonly DiagnosticCode ExpectOptimalTokens = new("ND0307", "spec", "Compute-optimal token count differs from expect", "The compute-optimal token count is {1} (20 per parameter), not {0}");

    // Names and strings that reach generated C# and OpenCL
    public static readonly DiagnosticCode ReservedName = new("ND0401", "emit", "Reserved name", "Rename '{0}': it is reserved in generated C#");
    public static readonly DiagnosticCode DuplicateModel = new("ND0402", "emit", "Duplicate model", "Rename model '{0}': another file or model already uses the name");
    /// <summary>From the generator: the project's Namespace metadata or NeuroDslNamespace property is not a C# namespace.</summary>
    public static readonly DiagnosticCode InvalidNamespace = new("ND0403", "emit", "Invalid namespace", "Set {0} to a C# namespace (A.B): the classes are generated in {1}");

    // Internal
    public static readonly DiagnosticCode Internal = new("ND0999", "internal", "Internal compiler error", "Internal compiler error: {0}");

    /// <summary>Every code, for documentation and for the test that each code has a case.</summary>
    public static readonly DiagnosticCode[] All =
    {
        SyntaxError, BadNumber, EmptyFile, NestingTooDeep, UnterminatedString, UnclosedBracket, FileTooLarge,
        UnknownName, UnknownOp, ArgumentCount, UnknownArgument, Duplicate, RecursiveBlock, NotConstant, WrongKind,
        MissingArgument, NoOutput, BadStatement, MissingReturn, ArgumentRepeated, LossNotScalar, TwoLosses, BadValue,
        ModelTooLarge,
        ShapeMismatch, RankMismatch, DTypeMismatch, BadDimension, SizeOverflow,
        ExpectParams, ExpectShape, ExpectFlops, ExpectUnknown, ExpectConnections, ExpectTrainingFlops, ExpectOptimalTokens,
        ReservedName, DuplicateModel, InvalidNamespace,
        Internal,
    };
}
