using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>The conformance suite on the embedded store: a fresh database file per test, leases on a fake clock.</summary>
public sealed class SqliteStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new("orc-sqlite-store");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected override TimeSpan LeaseTtl => TimeSpan.FromSeconds(10);

    protected override async Task<IStateStore> OpenStoreAsync() =>
        await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Guard());

    protected override Task PassTimeAsync(TimeSpan duration)
    {
        _time.Advance(duration);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }
}
