using System.Net.Sockets;
using Grpc.Core;

namespace Orchestrator.Cli.Client;

/// <summary>Turns failures of a call into one line a person can act on.</summary>
public static class RpcErrors
{
    /// <summary>True when the control plane could not be reached at all (as opposed to answering with an error).</summary>
    public static bool IsUnreachable(Exception e) =>
        e is RpcException { StatusCode: StatusCode.Unavailable } or HttpRequestException or SocketException;

    public static string Unreachable(Uri server, Exception e) =>
        $"cannot reach the control plane at {ServerAddress.Display(server)} ({Cause(e)}). " +
        "Start one with 'orc dev' or point --server/ORC_SERVER at a running one.";

    /// <summary>The message for any failed call, without the "error: " prefix.</summary>
    public static string Describe(Exception e, Uri server, TimeSpan timeout)
    {
        if (IsUnreachable(e))
        {
            return Unreachable(server, e);
        }

        if (e is RpcException rpc)
        {
            return rpc.StatusCode switch
            {
                StatusCode.DeadlineExceeded =>
                    $"the control plane at {ServerAddress.Display(server)} did not answer within {ControlPlane.Specs.DurationText.Format(timeout)}; try again, or allow longer with --timeout",
                StatusCode.Unimplemented =>
                    $"the control plane at {ServerAddress.Display(server)} does not support this request (is it an older version?): {rpc.Status.Detail}",
                _ when string.IsNullOrWhiteSpace(rpc.Status.Detail) => $"the control plane answered {rpc.StatusCode}",
                _ => rpc.Status.Detail,
            };
        }

        return e.Message;
    }

    /// <summary>"connection refused", "host not found", ... from the innermost socket error.</summary>
    public static string Cause(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException ?? (inner as RpcException)?.Status.DebugException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host not found",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable => "no route to host",
                    SocketError.ConnectionReset => "connection reset",
                    _ => socket.Message,
                };
            }

            if (inner is TaskCanceledException or TimeoutException)
            {
                return "connection timed out";
            }

            if (inner is HttpRequestException { HttpRequestError: HttpRequestError.HttpProtocolError or HttpRequestError.VersionNegotiationError })
            {
                return "it does not speak gRPC over HTTP/2 at this address";
            }
        }

        return e is RpcException r && !string.IsNullOrWhiteSpace(r.Status.Detail) ? r.Status.Detail : "unavailable";
    }
}
