using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;

namespace Orchestrator.ControlPlane.Tests.Controllers;

public sealed class WorkQueueTests : IDisposable
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(1);
    private readonly FakeTimeProvider _time = new();
    private readonly WorkQueue<string> _queue;

    public WorkQueueTests() => _queue = new WorkQueue<string>(_time, Base, Cap);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _queue.Dispose();

    [Fact]
    public async Task A_key_added_twice_is_queued_once()
    {
        _queue.Add("web");
        _queue.Add("web");
        _queue.Add("api");

        Assert.Equal(2, _queue.Count);
        Assert.Equal("web", await _queue.GetAsync(Ct));
        Assert.Equal("api", await _queue.GetAsync(Ct));
        var third = _queue.GetAsync(Ct);
        Assert.False(third.IsCompleted);

        _queue.Add("db");
        Assert.Equal("db", await third);
    }

    [Fact]
    public async Task A_key_added_while_processing_is_handed_out_again_only_after_done()
    {
        _queue.Add("web");
        var key = await _queue.GetAsync(Ct);

        _queue.Add("web");
        _queue.Add("web");
        Assert.Equal(0, _queue.Count);
        var next = _queue.GetAsync(Ct);
        Assert.False(next.IsCompleted);

        _queue.Done(key);
        Assert.Equal("web", await next);
        _queue.Done("web");
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task A_key_done_without_being_added_again_is_not_requeued()
    {
        _queue.Add("web");
        _queue.Done(await _queue.GetAsync(Ct));

        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task Failures_back_off_exponentially_up_to_the_cap_and_forget_resets_the_backoff()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), _queue.AddRateLimited("web"));
        Assert.Equal(0, _queue.Count);
        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.Equal(0, _queue.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, _queue.Count);
        _queue.Done(await _queue.GetAsync(Ct));

        Assert.Equal(TimeSpan.FromMilliseconds(200), _queue.AddRateLimited("web"));
        Assert.Equal(TimeSpan.FromMilliseconds(400), _queue.AddRateLimited("web"));
        Assert.Equal(TimeSpan.FromMilliseconds(800), _queue.AddRateLimited("web"));
        Assert.Equal(Cap, _queue.AddRateLimited("web"));
        Assert.Equal(Cap, _queue.AddRateLimited("web"));
        Assert.Equal(6, _queue.Failures("web"));

        _queue.Forget("web");
        Assert.Equal(0, _queue.Failures("web"));
        Assert.Equal(Base, _queue.AddRateLimited("web"));
    }

    [Fact]
    public void Of_two_delays_for_one_key_the_earlier_wins_and_the_key_is_queued_once()
    {
        _queue.AddAfter("web", TimeSpan.FromSeconds(10));
        _queue.AddAfter("web", TimeSpan.FromSeconds(2));
        Assert.Equal(1, _queue.Waiting);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, _queue.Count);
        Assert.Equal(0, _queue.Waiting);

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _queue.Count);
    }

    [Fact]
    public async Task Shut_down_ends_waiting_getters_and_drops_delays()
    {
        var getter = _queue.GetAsync(Ct);
        _queue.AddAfter("web", TimeSpan.FromSeconds(1));

        _queue.ShutDown();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => getter);
        Assert.Equal(0, _queue.Waiting);
        _queue.Add("api");
        Assert.Equal(0, _queue.Count);
    }
}
