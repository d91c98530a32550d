using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Tests.Runtime;

public sealed class RuntimeEventHubTests
{
    private static readonly DateTimeOffset Time = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Events_published_after_subscribing_but_before_enumerating_are_delivered()
    {
        var hub = new RuntimeEventHub();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var events = hub.Subscribe(cts.Token);

        hub.Publish(new RuntimeEvent(RuntimeEventKind.Started, "a", Time));
        hub.Publish(new RuntimeEvent(RuntimeEventKind.Exited, "a", Time, 0, ExitReasons.Completed));

        var seen = new List<RuntimeEvent>();
        await foreach (var e in events)
        {
            seen.Add(e);
            if (seen.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([RuntimeEventKind.Started, RuntimeEventKind.Exited], seen.Select(e => e.Kind));
    }

    [Fact]
    public async Task Every_subscriber_gets_every_event()
    {
        var hub = new RuntimeEventHub();
        var ct = TestContext.Current.CancellationToken;
        var first = hub.Subscribe(ct).GetAsyncEnumerator(ct);
        var second = hub.Subscribe(ct).GetAsyncEnumerator(ct);

        hub.Publish(new RuntimeEvent(RuntimeEventKind.Started, "b", Time));

        Assert.True(await first.MoveNextAsync());
        Assert.True(await second.MoveNextAsync());
        Assert.Equal("b", first.Current.ReplicaId);
        Assert.Equal("b", second.Current.ReplicaId);
        await first.DisposeAsync();
        await second.DisposeAsync();
    }
}
