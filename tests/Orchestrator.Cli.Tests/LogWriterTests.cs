using System.Text;
using Google.Protobuf;
using Orchestrator.Cli.Output;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>How the chunks of <c>Cluster.Logs</c> become lines on the console.</summary>
public sealed class LogWriterTests
{
    private sealed class Terminal : IConsoleIO, IDisposable
    {
        private readonly StringWriter _out = new();
        private readonly StringWriter _error = new();

        public TextWriter Out => _out;

        public TextWriter Error => _error;

        public TextReader In => TextReader.Null;

        public bool IsTerminal => true;

        public int Width => 80;

        public string Stdout => _out.ToString();

        public void Dispose()
        {
            _out.Dispose();
            _error.Dispose();
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static LogLine Chunk(string replica, byte[] data, bool stderr = false) => new() { Replica = replica, Data = ByteString.CopyFrom(data), Stderr = stderr };

    private static LogLine Chunk(string replica, string text, bool stderr = false) => Chunk(replica, Encoding.UTF8.GetBytes(text), stderr);

    [Fact]
    public async Task Prefixed_lines_stay_whole_when_chunks_of_two_replicas_interleave_mid_line()
    {
        using var console = new TestConsole();
        var writer = new LogWriter(console, prefix: true, colour: false);

        await writer.WriteAsync(Chunk("web-a", "hel"), Ct);
        await writer.WriteAsync(Chunk("web-b", "one\ntw"), Ct);
        await writer.WriteAsync(Chunk("web-a", "lo\nwor"), Ct);
        await writer.WriteAsync(Chunk("web-b", "o\n"), Ct);
        await writer.WriteAsync(Chunk("web-a", "ld"), Ct);
        await writer.CompleteAsync(Ct);

        Assert.Equal("[web-b] one\n[web-a] hello\n[web-b] two\n[web-a] world\n", console.Stdout);
    }

    [Fact]
    public async Task A_character_split_across_chunks_is_decoded_whole()
    {
        using var console = new TestConsole();
        var writer = new LogWriter(console, prefix: false, colour: false);
        var bytes = Encoding.UTF8.GetBytes("café ✓\n");

        await writer.WriteAsync(Chunk("web-a", bytes[..4]), Ct);
        await writer.WriteAsync(Chunk("web-a", bytes[4..8]), Ct);
        await writer.WriteAsync(Chunk("web-a", bytes[8..]), Ct);
        await writer.CompleteAsync(Ct);

        Assert.Equal("café ✓\n", console.Stdout);
    }

    [Fact]
    public async Task Without_prefixes_text_is_written_as_it_comes_and_a_last_line_keeps_its_missing_newline()
    {
        using var console = new TestConsole();
        var writer = new LogWriter(console, prefix: false, colour: false);

        await writer.WriteAsync(Chunk("web-a", "progress 10%\r"), Ct);
        Assert.Equal("progress 10%\r", console.Stdout);
        await writer.WriteAsync(Chunk("web-a", "progress 100%"), Ct);
        await writer.CompleteAsync(Ct);

        Assert.Equal("progress 10%\rprogress 100%", console.Stdout);
    }

    [Fact]
    public async Task On_a_terminal_each_replica_has_its_own_colour_the_same_in_every_run()
    {
        using var terminal = new Terminal();
        var writer = new LogWriter(terminal, prefix: true, colour: LogWriter.UseColour(terminal, _ => null));

        await writer.WriteAsync(Chunk("web-7f3k2", "a\n"), Ct);
        await writer.WriteAsync(Chunk("web-q8d1z", "b\n"), Ct);
        await writer.WriteAsync(Chunk("web-7f3k2", "c\n"), Ct);

        // Fixed values: a change of the hash would recolour every user's replicas.
        Assert.Equal(
            $"\u001b[{LogWriter.ColourOf("web-7f3k2")}m[web-7f3k2]\u001b[0m a\n" +
            $"\u001b[{LogWriter.ColourOf("web-q8d1z")}m[web-q8d1z]\u001b[0m b\n" +
            $"\u001b[{LogWriter.ColourOf("web-7f3k2")}m[web-7f3k2]\u001b[0m c\n",
            terminal.Stdout);
        Assert.Equal(96, LogWriter.ColourOf("web-7f3k2"));
        Assert.Equal(32, LogWriter.ColourOf("web-q8d1z"));
    }

    [Fact]
    public void Colour_only_on_a_terminal_and_never_with_NO_COLOR()
    {
        using var terminal = new Terminal();
        using var pipe = new TestConsole();

        Assert.True(LogWriter.UseColour(terminal, _ => null));
        Assert.True(LogWriter.UseColour(terminal, name => name == "NO_COLOR" ? "" : null));
        Assert.False(LogWriter.UseColour(terminal, name => name == "NO_COLOR" ? "1" : null));
        Assert.False(LogWriter.UseColour(pipe, _ => null));
    }
}
