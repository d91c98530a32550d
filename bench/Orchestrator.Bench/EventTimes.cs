using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Orchestrator.Bench;

/// <summary>One log event of interest: which, for which replica, and when (Stopwatch timestamp).</summary>
internal sealed record TimedEvent(string Category, int EventId, string ReplicaId, long Timestamp);

/// <summary>
/// A logger provider that records when the node agent logged chosen events (the process
/// runtime's "started" and "exited", the supervisor's), so the crash scenario can split a
/// restart into detection, the supervisor's decision and spawn, and the workload's own start.
/// </summary>
internal sealed class EventTimes : ILoggerProvider
{
    private readonly ConcurrentQueue<TimedEvent> _events = new();
    private readonly HashSet<int> _ids;

    public EventTimes(params int[] eventIds) => _ids = [.. eventIds];

    public IReadOnlyList<TimedEvent> Snapshot() => [.. _events];

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Recorder(EventTimes owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!owner._ids.Contains(eventId.Id))
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var replica = state is IReadOnlyList<KeyValuePair<string, object?>> values
                ? values.FirstOrDefault(v => v.Key == "ReplicaId").Value as string ?? ""
                : "";
            owner._events.Enqueue(new TimedEvent(category, eventId.Id, replica, now));
        }
    }
}
