using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Orchestrator.ControlPlane.Leadership;

/// <summary>
/// Runs the leader-only background services (the service controller, the placement loop, node
/// liveness, history compaction) during each term this control plane wins, and only then: at the
/// start of a term each is started with the term's token (so its work is cancelled the moment
/// the term ends), at the end each is stopped, in reverse order, and waited for. One that fails
/// during a term ends the term, so another control plane (or this one, after campaigning again)
/// starts everything afresh rather than leading with a part missing.
/// </summary>
public sealed partial class LeaderOnlyServices(
    LeaderElector elector,
    IReadOnlyList<IHostedService> services,
    ILogger<LeaderOnlyServices> logger) : BackgroundService
{
    /// <summary>Terms during which the services ran (for tests).</summary>
    public long TermsServed => Interlocked.Read(ref _served);

    private long _served;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            LeadershipTerm term;
            try
            {
                term = await elector.WaitForTermAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await ServeAsync(term, stoppingToken);
        }
    }

    private async Task ServeAsync(LeadershipTerm term, CancellationToken stoppingToken)
    {
        var started = new List<IHostedService>();
        var running = new List<Task>();
        try
        {
            foreach (var service in services)
            {
                await service.StartAsync(term.Token);
                started.Add(service);
                if (service is BackgroundService background && background.ExecuteTask is { } task)
                {
                    running.Add(task);
                }
            }

            Interlocked.Increment(ref _served);
            LogServing(logger, services.Count, term.Revision);

            // Until the term ends, or one service stops on its own (a failure), or the host stops.
            var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var registration = stoppingToken.Register(() => stopping.TrySetResult());
            var first = await Task.WhenAny(running.Append(term.Ended).Append(stopping.Task));
            if (first != term.Ended && !term.HasEnded && !stoppingToken.IsCancellationRequested)
            {
                var reason = first.Exception?.GetBaseException().Message ?? "it stopped by itself";
                elector.Resign(term, "a leader-only service stopped: " + reason);
            }
        }
        catch (OperationCanceledException) when (term.Token.IsCancellationRequested || stoppingToken.IsCancellationRequested)
        {
            // The term ended while the services were starting.
        }
        finally
        {
            started.Reverse();
            foreach (var service in started)
            {
                try
                {
                    await service.StopAsync(CancellationToken.None);
                }
#pragma warning disable CA1031 // Stopping one service must not keep the others running.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    LogStopFailed(logger, e, service.GetType().Name);
                }
            }

            LogStopped(logger, term.Revision, term.EndReason ?? "the control plane is stopping");
        }
    }

    [LoggerMessage(EventId = 1510, Level = LogLevel.Information, Message = "Started {Count} leader-only services for term {Revision}")]
    private static partial void LogServing(ILogger logger, int count, long revision);

    [LoggerMessage(EventId = 1511, Level = LogLevel.Information, Message = "Stopped the leader-only services of term {Revision}: {Reason}")]
    private static partial void LogStopped(ILogger logger, long revision, string reason);

    [LoggerMessage(EventId = 1512, Level = LogLevel.Warning, Message = "Stopping leader-only service {Service} failed")]
    private static partial void LogStopFailed(ILogger logger, Exception exception, string service);
}
