using System.Net;
using System.Net.Sockets;
using Orchestrator.NodeAgent.Health;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class HttpProbeCheckTests : IDisposable
{
    private readonly HttpClient _client = HttpProbeCheck.CreateSharedClient();

    public void Dispose() => _client.Dispose();

    [Theory]
    [InlineData(200)]
    [InlineData(204)]
    [InlineData(302)]
    [InlineData(399)]
    public async Task A_status_from_200_to_399_passes(int status)
    {
        await using var server = TinyHttpServer.Answering(status);
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "/healthz", "http");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task A_status_of_400_or_more_fails_and_says_which(int status)
    {
        await using var server = TinyHttpServer.Answering(status);
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "/healthz", "http");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Failed($"status {status}"), result);
    }

    [Fact]
    public async Task A_redirect_passes_without_being_followed()
    {
        // The redirect points at a closed port: following it would fail with connection refused.
        await using var server = TinyHttpServer.Answering(302, location: $"http://127.0.0.1:{FreePort.Next()}/elsewhere");
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "/", "http");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task The_request_is_a_GET_of_the_path_that_closes_its_connection()
    {
        await using var server = TinyHttpServer.Answering(200);
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "healthz?deep=1", "admin");

        await check.CheckAsync(TestContext.Current.CancellationToken);

        var head = Assert.Single(server.Requests);
        Assert.StartsWith("GET /healthz?deep=1 HTTP/1.1\r\n", head, StringComparison.Ordinal);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("User-Agent: orc-probe/1", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("http GET /healthz?deep=1 on port admin", check.Description);
    }

    [Fact]
    public async Task Every_check_opens_its_own_connection()
    {
        await using var server = TinyHttpServer.Answering(200);
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "/", "http");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));
        }

        Assert.Equal(3, server.Connections);
    }

    [Fact]
    public async Task A_closed_port_fails_with_connection_refused()
    {
        var check = new HttpProbeCheck(_client, "127.0.0.1", FreePort.Next(), "/healthz", "http");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Failed("connection refused"), result);
    }

    [Fact]
    public async Task A_server_that_never_answers_fails_by_the_probes_timeout()
    {
        await using var server = TinyHttpServer.Silent();
        var check = new HttpProbeCheck(_client, "127.0.0.1", server.Port, "/healthz", "http");
        await using var runner = new ProbeRunner(ProbeKind.Readiness, check, new ProbeSettings { Timeout = TimeSpan.FromMilliseconds(300) }, TimeProvider.System, _ => { });

        var result = await Eventually.FinishesAsync(runner.ProbeOnceAsync(TestContext.Current.CancellationToken), "the probe");

        Assert.Equal(ProbeResult.Failed("timed out after 300ms"), result);
        Assert.Equal(1, server.Connections);
    }

    [Fact]
    public async Task An_IPv6_address_is_put_in_brackets()
    {
        await using var server = TryIPv6Server();
        if (server is null)
        {
            Assert.Skip("no IPv6 loopback on this machine");
        }

        var check = new HttpProbeCheck(_client, "::1", server.Port, "/healthz", "http");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
    }

    private static TinyHttpServer? TryIPv6Server()
    {
        try
        {
            return TinyHttpServer.Answering(200, address: IPAddress.IPv6Loopback);
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
