using System.Collections.Concurrent;
using Orchestrator.NodeAgent.Health;

namespace Orchestrator.NodeAgent.Tests.Health;

/// <summary>
/// A check that plays a script, one step per call, and records the (fake) time of every call.
/// When the script runs out it keeps passing.
/// </summary>
internal sealed class ScriptedProbeCheck(TimeProvider time) : IProbeCheck
{
    private readonly ConcurrentQueue<Func<CancellationToken, Task<ProbeResult>>> _script = new();
    private readonly List<DateTimeOffset> _calls = [];

    public string Description => "scripted check";

    /// <summary>How many times the runner has called the check (finished or not).</summary>
    public int Calls
    {
        get
        {
            lock (_calls)
            {
                return _calls.Count;
            }
        }
    }

    /// <summary>The clock's time at each call, in order.</summary>
    public IReadOnlyList<DateTimeOffset> CallTimes
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public ScriptedProbeCheck Pass(int times = 1) => Repeat(times, _ => Task.FromResult(ProbeResult.Passed));

    public ScriptedProbeCheck Fail(string detail, int times = 1) => Repeat(times, _ => Task.FromResult(ProbeResult.Failed(detail)));

    /// <summary>Throws as a broken check would.</summary>
    public ScriptedProbeCheck Throw(Exception exception) => Repeat(1, _ => Task.FromException<ProbeResult>(exception));

    /// <summary>Never answers; ends with <see cref="OperationCanceledException"/> when its token is cancelled, as the contract asks.</summary>
    public ScriptedProbeCheck Hang() => Repeat(1, async ct =>
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, ct);
        return ProbeResult.Passed;
    });

    /// <summary>Never answers and ignores its token, as a check stuck in a call that cannot be cancelled would.</summary>
    public ScriptedProbeCheck HangIgnoringCancellation() => Repeat(1, _ => new TaskCompletionSource<ProbeResult>().Task);

    /// <summary>Answers with whatever the test completes <paramref name="answer"/> with, ignoring the timeout.</summary>
    public ScriptedProbeCheck AnswerWith(TaskCompletionSource<ProbeResult> answer) => Repeat(1, _ => answer.Task);

    public Task<ProbeResult> CheckAsync(CancellationToken cancellationToken)
    {
        lock (_calls)
        {
            _calls.Add(time.GetUtcNow());
        }

        return _script.TryDequeue(out var step) ? step(cancellationToken) : Task.FromResult(ProbeResult.Passed);
    }

    private ScriptedProbeCheck Repeat(int times, Func<CancellationToken, Task<ProbeResult>> step)
    {
        for (var i = 0; i < times; i++)
        {
            _script.Enqueue(step);
        }

        return this;
    }
}
