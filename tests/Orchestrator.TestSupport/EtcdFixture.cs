using Xunit;

namespace Orchestrator.TestSupport;

/// <summary>
/// One etcd per test class (<c>IClassFixture&lt;EtcdFixture&gt;</c>). When etcd is not installed
/// the fixture still constructs, and <see cref="Require"/> skips each test with how to get it
/// (or fails it under ORC_REQUIRE_INTEGRATION=1).
/// </summary>
public sealed class EtcdFixture : IAsyncLifetime
{
    private EtcdProcess? _etcd;
    private Exception? _unavailable;

    public async ValueTask InitializeAsync()
    {
        try
        {
            _etcd = await EtcdProcess.StartAsync();
        }
        catch (IntegrationUnavailableException ex)
        {
            _unavailable = ex;
        }
    }

    /// <summary>The running etcd; throws the skip (or failure) recorded at start when there is none.</summary>
    public EtcdProcess Require()
    {
        if (_unavailable is not null)
        {
            Integration.Unavailable(Integration.EtcdMissing);
        }

        return _etcd ?? throw new InvalidOperationException("etcd fixture used before it started");
    }

    public async ValueTask DisposeAsync()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }
}
