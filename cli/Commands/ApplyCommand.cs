using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc apply -f FILE|DIR|-</c>: sends each file as one Apply (all or nothing per file) and prints
/// one line per object. With several files, every file is validated first (a dry run), so a bad
/// file anywhere means nothing is applied.
/// </summary>
public static class ApplyCommand
{
    public const string ValidationErrorsTrailer = "validation-errors-bin";
    public const string StdinName = "<stdin>";

    public static Command Create(CliContext context)
    {
        var files = new Option<string[]>("--filename", "-f")
        {
            Description = "Spec file, directory of *.yaml/*.yml files, or - for stdin (repeatable)",
            Required = true,
            HelpName = "file",
            AllowMultipleArgumentsPerToken = false,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Validate and show what would change; store nothing" };
        var command = new Command("apply", "Create or update services and jobs from spec files") { files, dryRun };
        command.SetAction((parse, ct) => RunAsync(context, parse, parse.GetValue(files) ?? [], parse.GetValue(dryRun), ct));
        return command;
    }

    /// <summary>One spec file to send: the name to show in messages and its text.</summary>
    public sealed record SpecSource(string Name, string Content);

    private static async Task<int> RunAsync(CliContext context, ParseResult parse, string[] paths, bool dryRun, CancellationToken ct)
    {
        var sources = await ReadSourcesAsync(context.IO, paths, ct);
        using var connection = context.Connect(parse);

        if (sources.Count > 1 && !dryRun)
        {
            // Validate everything before changing anything.
            var failed = false;
            foreach (var source in sources)
            {
                failed |= await SendAsync(context, connection, source, dryRun: true, print: false, ct) is null;
            }

            if (failed)
            {
                return ExitCodes.Failure;
            }
        }

        foreach (var source in sources)
        {
            if (await SendAsync(context, connection, source, dryRun, print: true, ct) is null)
            {
                return ExitCodes.Failure;
            }
        }

        return ExitCodes.Success;
    }

    /// <summary>Sends one file; prints its result lines (or its validation errors) and returns null when it was rejected.</summary>
    private static async Task<ApplyResponse?> SendAsync(
        CliContext context, ClusterConnection connection, SpecSource source, bool dryRun, bool print, CancellationToken ct)
    {
        try
        {
            var response = await connection.Client.ApplyAsync(
                new ApplyRequest { SourceName = source.Name, Content = source.Content, DryRun = dryRun },
                connection.Unary(ct));
            if (print)
            {
                foreach (var result in response.Results)
                {
                    await context.IO.Out.WriteLineAsync(FormatResult(result, dryRun));
                }
            }

            return response;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
        {
            var lines = ValidationLines(e);
            foreach (var line in lines)
            {
                await context.IO.Error.WriteLineAsync(line);
            }

            var problems = lines.Count == 1 ? "1 problem" : $"{lines.Count} problems";
            await context.IO.Error.WriteLineAsync($"error: {source.Name} has {problems}; nothing was applied");
            return null;
        }
    }

    /// <summary><c>service/web created</c>, <c>service/web configured (revision 2)</c>, with <c> (dry run)</c> when nothing was stored.</summary>
    public static string FormatResult(ApplyResult result, bool dryRun)
    {
        // A newer server may report kinds this client does not know yet; name them anyway.
        var kind = ObjectKinds.All.FirstOrDefault(k => k.Kind == result.Kind)?.Singular ?? result.Kind.ToString().ToLowerInvariant();
        var outcome = result.Outcome switch
        {
            ApplyOutcome.Created => "created",
            ApplyOutcome.Unchanged => "unchanged",
            ApplyOutcome.Configured => Configured(result),
            _ => "applied",
        };
        return $"{kind}/{result.Name} {outcome}{(dryRun ? " (dry run)" : "")}";
    }

    /// <summary>
    /// A template change makes a new revision, which is what a rollout follows: say which. Other
    /// changes (replicas 3 -> 5) are named as they are.
    /// </summary>
    private static string Configured(ApplyResult result)
    {
        var templateChanged = result.Changes.Count == 0 || result.Changes.Any(c => c.StartsWith("template", StringComparison.Ordinal));
        var parts = new List<string>();
        if (result.Kind == ObjectKind.Service && result.Revision > 0 && templateChanged)
        {
            parts.Add($"revision {result.Revision}");
        }

        parts.AddRange(result.Changes.Where(c => !c.StartsWith("template", StringComparison.Ordinal)));
        return parts.Count == 0 ? "configured" : $"configured ({string.Join(", ", parts)})";
    }

    /// <summary>The validation problems of a rejected Apply: from the trailer when present, else the status detail's lines.</summary>
    public static IReadOnlyList<string> ValidationLines(RpcException e)
    {
        var trailer = e.Trailers.FirstOrDefault(t => t.IsBinary && t.Key == ValidationErrorsTrailer);
        if (trailer is not null)
        {
            var errors = ValidationErrors.Parser.ParseFrom(trailer.ValueBytes);
            if (errors.Errors.Count > 0)
            {
                return errors.Errors.Select(Text).ToList();
            }
        }

        var detail = e.Status.Detail.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return detail.Length > 0 ? detail : ["the control plane rejected the spec without saying why"];
    }

    private static string Text(ValidationError error)
    {
        if (error.Text.Length > 0)
        {
            return error.Text;
        }

        var where = error.Line > 0 ? $"{error.SourceName}:{error.Line}" : error.SourceName;
        return error.Field.Length > 0 ? $"{where}: {error.Field}: {error.Message}" : $"{where}: {error.Message}";
    }

    /// <summary>
    /// Reads every file before anything is sent, so a missing file changes nothing. A directory
    /// gives its *.yaml and *.yml files in name order; "-" reads stdin once.
    /// </summary>
    public static async Task<IReadOnlyList<SpecSource>> ReadSourcesAsync(IConsoleIO io, IReadOnlyList<string> paths, CancellationToken ct)
    {
        var sources = new List<SpecSource>();
        var stdinRead = false;
        foreach (var path in paths)
        {
            if (path == "-")
            {
                if (stdinRead)
                {
                    throw new UsageException("-f - is given twice; stdin can be read only once");
                }

                stdinRead = true;
                sources.Add(new SpecSource(StdinName, await io.In.ReadToEndAsync(ct)));
            }
            else if (Directory.Exists(path))
            {
                var files = Directory.EnumerateFiles(path)
                    .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal)
                    .ToList();
                if (files.Count == 0)
                {
                    throw new CommandException($"{path} is a directory with no *.yaml or *.yml files");
                }

                foreach (var file in files)
                {
                    sources.Add(new SpecSource(file, await ReadFileAsync(file, ct)));
                }
            }
            else
            {
                sources.Add(new SpecSource(path, await ReadFileAsync(path, ct)));
            }
        }

        return sources;
    }

    private static async Task<string> ReadFileAsync(string path, CancellationToken ct)
    {
        try
        {
            return await File.ReadAllTextAsync(path, ct);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CommandException($"{path}: no such file or directory");
        }
        catch (UnauthorizedAccessException)
        {
            throw new CommandException($"{path}: permission denied");
        }
        catch (IOException e)
        {
            throw new CommandException($"{path}: cannot be read ({e.Message})");
        }
    }
}
