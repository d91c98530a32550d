using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Orchestrator.NodeAgent.Runtime;

/// <summary>
/// Fans runtime events out to every current <see cref="IContainerRuntime.WatchAsync"/> subscriber.
/// Each subscriber has its own unbounded queue, so a slow reader never blocks the runtime.
/// </summary>
internal sealed class RuntimeEventHub
{
    private readonly Lock _gate = new();
    private readonly List<Channel<RuntimeEvent>> _subscribers = [];

    public void Publish(RuntimeEvent runtimeEvent)
    {
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(runtimeEvent);
            }
        }
    }

    /// <summary>Ends every subscriber's stream (the runtime is going away).</summary>
    public void Complete()
    {
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryComplete();
            }

            _subscribers.Clear();
        }
    }

    /// <summary>Subscribes now (not when enumeration starts), so nothing published after this call is missed.</summary>
    public IAsyncEnumerable<RuntimeEvent> Subscribe(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<RuntimeEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_gate)
        {
            _subscribers.Add(channel);
        }

        // Unsubscribe on cancellation even if the caller never enumerates.
        cancellationToken.Register(() => Unsubscribe(channel));
        return ReadAsync(channel, cancellationToken);
    }

    private async IAsyncEnumerable<RuntimeEvent> ReadAsync(
        Channel<RuntimeEvent> channel,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var item))
                {
                    yield return item;
                }
            }
        }
        finally
        {
            Unsubscribe(channel);
        }
    }

    private void Unsubscribe(Channel<RuntimeEvent> channel)
    {
        lock (_gate)
        {
            _subscribers.Remove(channel);
        }
    }
}
