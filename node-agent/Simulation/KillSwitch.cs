using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>
/// Sits between one simulated node's agent and the shared gRPC channel. Once pulled, the node
/// goes silent the way a machine that lost power does: nothing it writes reaches the control
/// plane any more (no heartbeat, no report), yet its stream is never closed or reset, so the
/// control plane learns of the loss only when the node's liveness lease runs out. Later
/// connection attempts fail as an unreachable host's would.
/// </summary>
public sealed class KillSwitch : Interceptor
{
    private volatile bool _pulled;

    public bool Pulled => _pulled;

    public void Pull() => _pulled = true;

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        ThrowIfPulled();
        var call = continuation(context);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(
            new SilencedWriter<TRequest>(call.RequestStream, this),
            call.ResponseStream,
            call.ResponseHeadersAsync,
            call.GetStatus,
            call.GetTrailers,
            call.Dispose);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        ThrowIfPulled();
        return continuation(context);
    }

    private void ThrowIfPulled()
    {
        if (_pulled)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "simulated node killed: the control plane is unreachable"));
        }
    }

    private sealed class SilencedWriter<T>(IClientStreamWriter<T> inner, KillSwitch killSwitch) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task WriteAsync(T message) => killSwitch.Pulled ? Task.CompletedTask : inner.WriteAsync(message);

        public Task WriteAsync(T message, CancellationToken cancellationToken) =>
            killSwitch.Pulled ? Task.CompletedTask : inner.WriteAsync(message, cancellationToken);

        // A dead machine never says goodbye: the stream is left open, not completed.
        public Task CompleteAsync() => killSwitch.Pulled ? Task.CompletedTask : inner.CompleteAsync();
    }
}
