using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>The Cluster API as the agent scenario drives it: apply a spec and wait, through a watch, until its replicas are ready.</summary>
internal sealed class ClusterDriver : IDisposable
{
    private readonly GrpcChannel _channel;

    public ClusterDriver(Uri grpcUrl)
    {
        _channel = GrpcChannel.ForAddress(grpcUrl);
        Client = new V1.Cluster.ClusterClient(_channel);
    }

    public V1.Cluster.ClusterClient Client { get; }

    /// <summary>
    /// Opens a watch on the service's replicas (waiting for its initial state), then applies the
    /// spec, and returns the time from just before the Apply to the moment the watch has shown
    /// <paramref name="count"/> replicas in phase Ready.
    /// </summary>
    public async Task<TimeSpan> ApplyAndWaitReadyAsync(string service, string spec, int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var watch = Client.Watch(new WatchRequest { Kind = ObjectKind.Replica, Owner = $"service/{service}" }, cancellationToken: cts.Token);
        var events = watch.ResponseStream;
        while (await events.MoveNext(cts.Token) && events.Current.Type != WatchEventType.Synced)
        {
            // The service is new: nothing to see before the marker.
        }

        var start = Stopwatch.GetTimestamp();
        await ApplyAsync(spec);
        var ready = new HashSet<string>(StringComparer.Ordinal);
        var phases = new Dictionary<string, Phase>(StringComparer.Ordinal);
        try
        {
            while (ready.Count < count && await events.MoveNext(cts.Token))
            {
                if (events.Current.Object?.Replica is not { } replica)
                {
                    continue;
                }

                var name = replica.Meta.Name;
                phases[name] = replica.Status?.Phase ?? Phase.Unspecified;
                if (events.Current.Type != WatchEventType.Deleted && replica.Status?.Phase == Phase.Ready)
                {
                    ready.Add(name);
                }
                else
                {
                    ready.Remove(name);
                }
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cts.IsCancellationRequested)
        {
            throw new TimeoutException($"service {service}: {ready.Count} of {count} replicas ready after {timeout.TotalSeconds:F0} s; phases: {string.Join(", ", phases.Select(p => $"{p.Key}={p.Value}"))}");
        }

        return Stopwatch.GetElapsedTime(start);
    }

    public async Task ApplyAsync(string spec)
    {
        var response = await Client.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = spec });
        if (response.Results.Count == 0)
        {
            throw new InvalidOperationException($"apply returned no result: {response}");
        }
    }

    public async Task<IReadOnlyList<Replica>> ReplicasAsync(string service)
    {
        var list = await Client.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = $"service/{service}" });
        return [.. list.Items.Select(i => i.Replica).Where(r => r is not null)];
    }

    /// <summary>Deletes the service and waits until none of its replicas is left in the store.</summary>
    public async Task DeleteAndWaitGoneAsync(string service, TimeSpan timeout)
    {
        await Client.DeleteAsync(new DeleteRequest { Kind = ObjectKind.Service, Name = service });
        var start = Stopwatch.GetTimestamp();
        while ((await ReplicasAsync(service)).Count > 0)
        {
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                throw new TimeoutException($"service {service}: replicas still listed {timeout.TotalSeconds:F0} s after the delete");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        }
    }

    public void Dispose() => _channel.Dispose();
}
