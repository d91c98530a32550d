using System.Text;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// Writes the chunks of <c>Cluster.Logs</c> to the console: a replica's stdout to stdout and its
/// stderr to stderr (as <c>docker logs</c> does), decoded as UTF-8 per replica and stream so a
/// character split across two chunks stays whole.
/// </summary>
/// <remarks>
/// With <c>prefix</c> (the logs of a service or job) every line starts with <c>[replica-id] </c>,
/// so a chunk is cut into lines and a line without its newline yet waits for the rest; what is
/// left at the end is written with a newline. Without it the text is written as it comes
/// (progress output that redraws a line keeps working).
/// </remarks>
public sealed class LogWriter(IConsoleIO io, bool prefix, bool colour)
{
    // Cyan, yellow, green, magenta, blue and their bright forms: readable on dark and light
    // backgrounds. Red is left out, so a replica's name never looks like an error.
    private static readonly int[] Palette = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

    private readonly Dictionary<(string Replica, bool Stderr), Part> _parts = [];

    /// <summary>
    /// Whether the replica prefixes get colours: only when stdout is a terminal and
    /// <c>NO_COLOR</c> is unset or empty (https://no-color.org).
    /// </summary>
    public static bool UseColour(IConsoleIO io, Func<string, string?> environment) =>
        io.IsTerminal && string.IsNullOrEmpty(environment("NO_COLOR"));

    /// <summary>The ANSI colour code of a replica: the same for the same id in every run (not <see cref="string.GetHashCode()"/>, which changes per process).</summary>
    public static int ColourOf(string replica)
    {
        // FNV-1a over the UTF-16 code units.
        var hash = 2166136261u;
        foreach (var c in replica)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return Palette[hash % (uint)Palette.Length];
    }

    /// <summary>The <c>[replica-id] </c> in front of each line, coloured when asked.</summary>
    public string Prefix(string replica) =>
        colour ? $"\u001b[{ColourOf(replica)}m[{replica}]\u001b[0m " : $"[{replica}] ";

    public async Task WriteAsync(LogLine line, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(line);
        var key = (line.Replica, line.Stderr);
        if (!_parts.TryGetValue(key, out var part))
        {
            part = new Part();
            _parts[key] = part;
        }

        var text = part.Decode(line.Data.Span, flush: false);
        var writer = line.Stderr ? io.Error : io.Out;
        if (!prefix)
        {
            await writer.WriteAsync(text.AsMemory(), cancellationToken);
            await writer.FlushAsync(cancellationToken);
            return;
        }

        part.Pending.Append(text);
        var lines = part.TakeLines();
        if (lines.Count == 0)
        {
            return;
        }

        var prefixText = Prefix(line.Replica);
        var output = new StringBuilder();
        foreach (var complete in lines)
        {
            output.Append(prefixText).Append(complete).Append('\n');
        }

        await writer.WriteAsync(output, cancellationToken);
        await writer.FlushAsync(cancellationToken);
    }

    /// <summary>Writes what is left: bytes of an unfinished character, and (with prefixes) a last line that had no newline.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        foreach (var ((replica, stderr), part) in _parts)
        {
            var writer = stderr ? io.Error : io.Out;
            var rest = part.Decode([], flush: true);
            if (!prefix)
            {
                if (rest.Length > 0)
                {
                    await writer.WriteAsync(rest.AsMemory(), cancellationToken);
                }

                continue;
            }

            part.Pending.Append(rest);
            var lines = part.TakeLines();
            if (part.Pending.Length > 0)
            {
                lines.Add(part.Pending.ToString());
                part.Pending.Clear();
            }

            foreach (var complete in lines)
            {
                await writer.WriteAsync($"{Prefix(replica)}{complete}\n".AsMemory(), cancellationToken);
            }
        }

        _parts.Clear();
        await io.Out.FlushAsync(cancellationToken);
        await io.Error.FlushAsync(cancellationToken);
    }

    /// <summary>One stream of one replica: its UTF-8 decoder and the start of a line still missing its end.</summary>
    private sealed class Part
    {
        private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetDecoder();

        public StringBuilder Pending { get; } = new();

        public string Decode(ReadOnlySpan<byte> bytes, bool flush)
        {
            var chars = new char[_decoder.GetCharCount(bytes, flush)];
            var count = _decoder.GetChars(bytes, chars, flush);
            return new string(chars, 0, count);
        }

        /// <summary>Removes and returns the complete lines (without their <c>\n</c>) from <see cref="Pending"/>.</summary>
        public List<string> TakeLines()
        {
            var lines = new List<string>();
            var text = Pending.ToString();
            var start = 0;
            for (var newline = text.IndexOf('\n', start); newline >= 0; newline = text.IndexOf('\n', start))
            {
                lines.Add(text[start..newline]);
                start = newline + 1;
            }

            if (start > 0)
            {
                Pending.Remove(0, start);
            }

            return lines;
        }
    }
}
