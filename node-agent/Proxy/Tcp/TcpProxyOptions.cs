namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>How a <see cref="TcpProxyListener"/> connects, sets failing endpoints aside and shuts down.</summary>
public sealed record TcpProxyOptions
{
    /// <summary>How long one connect to an endpoint may take before the next endpoint is tried (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an endpoint whose connect failed is set aside the first time (default 5 s); doubled on each further failure.</summary>
    public TimeSpan SetAsideBase { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest an endpoint is set aside, however often it failed (default 30 s).</summary>
    public TimeSpan SetAsideMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long <see cref="TcpProxyListener.DisposeAsync"/> lets open connections finish on their own
    /// before it closes them (default 10 s; zero closes them at once).
    /// </summary>
    public TimeSpan ShutdownGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes of each pooled copy buffer; a connection holds two, one per direction (default 32 KiB).</summary>
    public int BufferSize { get; init; } = 32 * 1024;

    /// <summary>Connections the kernel queues before the accept loop takes them (default 512).</summary>
    public int Backlog { get; init; } = 512;

    /// <summary>Every problem with these options, each with its fix; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ConnectTimeout is {ConnectTimeout}; give a positive duration such as 5s");
        }

        if (SetAsideBase <= TimeSpan.Zero)
        {
            problems.Add($"SetAsideBase is {SetAsideBase}; give a positive duration such as 5s");
        }

        if (SetAsideMax < SetAsideBase)
        {
            problems.Add($"SetAsideMax ({SetAsideMax}) is shorter than SetAsideBase ({SetAsideBase}); make it at least as long");
        }

        if (ShutdownGracePeriod < TimeSpan.Zero)
        {
            problems.Add($"ShutdownGracePeriod is {ShutdownGracePeriod}; give zero or a positive duration");
        }

        if (BufferSize < 1024)
        {
            problems.Add($"BufferSize is {BufferSize}; give at least 1024 bytes (32768 is the default)");
        }

        if (Backlog < 1)
        {
            problems.Add($"Backlog is {Backlog}; give at least 1 (512 is the default)");
        }

        return problems;
    }
}
