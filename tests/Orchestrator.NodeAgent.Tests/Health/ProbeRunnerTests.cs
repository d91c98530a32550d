using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Health;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class ProbeRunnerTests : IAsyncDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(Start);
    private readonly ScriptedProbeCheck _check;
    private readonly List<ProbeTransition> _transitions = [];
    private ProbeRunner? _runner;

    public ProbeRunnerTests()
    {
        _check = new ScriptedProbeCheck(_time);
    }

    public async ValueTask DisposeAsync()
    {
        if (_runner is not null)
        {
            await Eventually.FinishesAsync(_runner.DisposeAsync().AsTask(), "the runner to stop");
        }
    }

    [Fact]
    public async Task The_first_check_waits_for_the_initial_delay()
    {
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { InitialDelay = TimeSpan.FromSeconds(5), Interval = Interval });
        await Eventually.WaitUntilAsync(() => runner.WaitsStarted >= 1, "the runner waits for the initial delay");

        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(0, _check.Calls);

        _time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the first check ran");

        Assert.Equal([Start.AddSeconds(5)], _check.CallTimes);
    }

    [Fact]
    public async Task Without_an_initial_delay_the_first_check_runs_at_once()
    {
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval });

        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the first check ran");

        Assert.Equal([Start], _check.CallTimes);
    }

    [Fact]
    public async Task Checks_run_once_every_interval()
    {
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { InitialDelay = TimeSpan.FromSeconds(3), Interval = Interval });
        await Eventually.WaitUntilAsync(() => runner.WaitsStarted >= 1, "the runner waits for the initial delay");
        _time.Advance(TimeSpan.FromSeconds(3));
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the first check ran");

        for (var n = 2; n <= 4; n++)
        {
            await Eventually.WaitUntilAsync(() => runner.WaitsStarted >= n, $"the runner waits for check {n}");
            _time.Advance(Interval - TimeSpan.FromSeconds(1));
            Assert.Equal(n - 1, _check.Calls);
            _time.Advance(TimeSpan.FromSeconds(1));
            await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= n, $"check {n} ran");
        }

        Assert.Equal([Start.AddSeconds(3), Start.AddSeconds(13), Start.AddSeconds(23), Start.AddSeconds(33)], _check.CallTimes);
    }

    [Fact]
    public async Task Starting_twice_runs_one_loop()
    {
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval });
        runner.Start();

        await StepsAsync(runner, 3);

        Assert.Equal([Start, Start.AddSeconds(10), Start.AddSeconds(20)], _check.CallTimes);
    }

    [Fact]
    public async Task Readiness_starts_not_ready_and_becomes_ready_after_success_threshold_passes()
    {
        _check.Fail("status 503").Pass(3);
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval, SuccessThreshold = 2 });

        Assert.False(runner.Healthy);
        Assert.Null(runner.LastResult);

        var verdicts = await StepsAsync(runner, 4);

        Assert.Equal([false, false, true, true], verdicts);
        await runner.DisposeAsync();
        var transition = Assert.Single(_transitions);
        Assert.Equal(ProbeKind.Readiness, transition.Kind);
        Assert.True(transition.Healthy);
        Assert.Equal("readiness probe succeeded", transition.Message);
        Assert.Equal(Start.AddSeconds(20), transition.Time);
    }

    [Fact]
    public async Task A_failure_between_passes_restarts_the_count_of_successes()
    {
        _check.Pass().Fail("status 503").Pass().Pass();
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval, SuccessThreshold = 2 });

        var verdicts = await StepsAsync(runner, 4);

        Assert.Equal([false, false, false, true], verdicts);
    }

    [Fact]
    public async Task A_ready_probe_becomes_not_ready_after_failure_threshold_consecutive_failures()
    {
        _check.Pass().Fail("status 503", 2).Pass().Fail("status 503", 3).Pass();
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval, FailureThreshold = 3 });

        var verdicts = await StepsAsync(runner, 8);

        Assert.Equal([true, true, true, true, true, true, false, true], verdicts);
        await runner.DisposeAsync();
        Assert.Equal(
            [(true, "readiness probe succeeded", Start), (false, "readiness probe failed: scripted check: status 503", Start.AddSeconds(60)), (true, "readiness probe succeeded", Start.AddSeconds(70))],
            _transitions.Select(t => (t.Healthy, t.Message, t.Time)));
    }

    [Fact]
    public async Task Liveness_starts_alive_and_flips_after_failure_threshold_failures()
    {
        _check.Fail("status 500", 2).Pass().Fail("status 500", 3).Pass();
        var runner = Run(ProbeKind.Liveness, new ProbeSettings { Interval = Interval, FailureThreshold = 3 });

        Assert.True(runner.Healthy);
        var verdicts = await StepsAsync(runner, 7);

        Assert.Equal([true, true, true, true, true, false, true], verdicts);
        await runner.DisposeAsync();
        Assert.Equal(
            [(ProbeKind.Liveness, false, "liveness probe failed: scripted check: status 500"), (ProbeKind.Liveness, true, "liveness probe succeeded")],
            _transitions.Select(t => (t.Kind, t.Healthy, t.Message)));
    }

    [Fact]
    public async Task Failures_while_not_ready_report_no_transition_but_keep_the_last_result()
    {
        _check.Fail("connection refused", 5);
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval, FailureThreshold = 1 });

        var verdicts = await StepsAsync(runner, 5);

        Assert.All(verdicts, v => Assert.False(v));
        Assert.Equal(ProbeResult.Failed("connection refused"), runner.LastResult);
        await runner.DisposeAsync();
        Assert.Empty(_transitions);
    }

    [Fact]
    public async Task A_check_that_outlives_the_timeout_is_a_failure()
    {
        _check.Hang();
        var runner = Run(ProbeKind.Liveness, new ProbeSettings { Interval = Interval, Timeout = TimeSpan.FromSeconds(2), FailureThreshold = 1 });
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the check was called");

        _time.Advance(TimeSpan.FromSeconds(2));
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the check timed out");

        Assert.Equal(ProbeResult.Failed("timed out after 2s"), runner.LastResult);
        Assert.False(runner.Healthy);
        await runner.DisposeAsync();
        var transition = Assert.Single(_transitions);
        Assert.Equal("liveness probe failed: scripted check: timed out after 2s", transition.Message);
        Assert.Equal(Start.AddSeconds(2), transition.Time);
    }

    [Fact]
    public async Task A_check_that_ignores_its_token_still_times_out()
    {
        _check.HangIgnoringCancellation();
        var runner = Run(ProbeKind.Liveness, new ProbeSettings { Interval = Interval, Timeout = TimeSpan.FromMilliseconds(500), FailureThreshold = 1 });
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the check was called");

        _time.Advance(TimeSpan.FromMilliseconds(500));
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the check timed out");

        Assert.Equal(ProbeResult.Failed("timed out after 500ms"), runner.LastResult);
        Assert.False(runner.Healthy);
    }

    [Fact]
    public async Task A_check_that_throws_is_a_failure_with_the_exceptions_message()
    {
        _check.Throw(new InvalidOperationException("name resolution failed"));
        var runner = Run(ProbeKind.Liveness, new ProbeSettings { Interval = Interval, FailureThreshold = 1 });

        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 1, "the check ran");

        Assert.Equal(ProbeResult.Failed("name resolution failed"), runner.LastResult);
        Assert.False(runner.Healthy);
    }

    [Fact]
    public async Task After_a_check_slower_than_several_intervals_the_next_runs_at_once_without_a_burst()
    {
        var slow = new TaskCompletionSource<ProbeResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _check.AnswerWith(slow);
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval, Timeout = TimeSpan.FromHours(1) });
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the slow check was called");

        _time.Advance(TimeSpan.FromSeconds(35));
        slow.SetResult(ProbeResult.Passed);
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 2, "the check after the stall ran");
        _time.Advance(Interval);
        await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= 3, "the next check ran");

        Assert.Equal([Start, Start.AddSeconds(35), Start.AddSeconds(45)], _check.CallTimes);
    }

    [Fact]
    public async Task Dispose_stops_the_loop()
    {
        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval });
        await StepsAsync(runner, 2);

        await runner.DisposeAsync();
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(2, _check.Calls);
        Assert.Equal(2, runner.CompletedChecks);
    }

    [Fact]
    public async Task Dispose_cancels_a_running_check_without_counting_it()
    {
        _check.Hang();
        var runner = Run(ProbeKind.Liveness, new ProbeSettings { Interval = Interval, FailureThreshold = 1 });
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the check was called");

        await Eventually.FinishesAsync(runner.DisposeAsync().AsTask(), "dispose to cancel the hanging check");

        Assert.Equal(0, runner.CompletedChecks);
        Assert.True(runner.Healthy);
        Assert.Empty(_transitions);
    }

    [Fact]
    public async Task Dispose_twice_and_dispose_without_start_are_harmless()
    {
        var never = new ProbeRunner(ProbeKind.Readiness, _check, new ProbeSettings(), _time, _transitions.Add);
        await never.DisposeAsync();
        await never.DisposeAsync();

        var runner = Run(ProbeKind.Readiness, new ProbeSettings { Interval = Interval });
        await runner.DisposeAsync();
        await runner.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(runner.Start);
    }

    [Fact]
    public async Task ProbeOnce_turns_the_timeout_into_a_failure()
    {
        _check.Hang();
        await using var runner = new ProbeRunner(ProbeKind.Readiness, _check, new ProbeSettings { Timeout = TimeSpan.FromMilliseconds(1500) }, _time, _transitions.Add);

        var probing = runner.ProbeOnceAsync(TestContext.Current.CancellationToken);
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the check was called");
        _time.Advance(TimeSpan.FromMilliseconds(1500));

        Assert.Equal(ProbeResult.Failed("timed out after 1.5s"), await Eventually.FinishesAsync(probing, "the probe"));
        Assert.Equal(0, runner.CompletedChecks);
    }

    [Fact]
    public async Task ProbeOnce_passes_the_callers_cancellation_through()
    {
        _check.Hang();
        await using var runner = new ProbeRunner(ProbeKind.Readiness, _check, new ProbeSettings(), _time, _transitions.Add);
        using var cancel = new CancellationTokenSource();

        var probing = runner.ProbeOnceAsync(cancel.Token);
        await Eventually.WaitUntilAsync(() => _check.Calls >= 1, "the check was called");
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Eventually.FinishesAsync(probing, "the probe"));
    }

    /// <summary>Starts a runner whose transitions are recorded; the test disposes it.</summary>
    private ProbeRunner Run(ProbeKind kind, ProbeSettings settings)
    {
        _runner = new ProbeRunner(kind, _check, settings, _time, t =>
        {
            lock (_transitions)
            {
                _transitions.Add(t);
            }
        });
        _runner.Start();
        return _runner;
    }

    /// <summary>
    /// Lets the runner (started at <see cref="Start"/> without an initial delay) run <paramref name="count"/>
    /// checks one interval apart, and returns its verdict after each. Each step waits until the runner has
    /// counted the check before moving the clock, so no tick is lost to a race.
    /// </summary>
    private async Task<List<bool>> StepsAsync(ProbeRunner runner, int count)
    {
        var verdicts = new List<bool>();
        for (var n = 1; n <= count; n++)
        {
            if (n > 1)
            {
                _time.Advance(Interval);
            }

            await Eventually.WaitUntilAsync(() => runner.CompletedChecks >= n, $"check {n} was counted");
            verdicts.Add(runner.Healthy);
        }

        return verdicts;
    }
}
