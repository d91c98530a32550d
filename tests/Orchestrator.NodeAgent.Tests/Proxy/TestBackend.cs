using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>
/// A tiny HTTP server on 127.0.0.1 (an ephemeral port) standing in for a replica: it answers
/// <c>NAME METHOD X-Forwarded-For X-Forwarded-Proto</c> and counts what it served.
/// </summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _served;

    private TestBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }

    public int Port { get; private set; }

    public int Served => Volatile.Read(ref _served);

    public static async Task<TestBackend> StartAsync(string name, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var backend = new TestBackend(name, app);
        app.Run(async context =>
        {
            Interlocked.Increment(ref backend._served);
            await context.Response.WriteAsync(
                $"{name} {context.Request.Method} for={context.Request.Headers["X-Forwarded-For"]} proto={context.Request.Headers["X-Forwarded-Proto"]}",
                context.RequestAborted);
        });
        await app.StartAsync(cancellationToken);
        backend.Port = new Uri(app.Urls.First()).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
