using System.Net;
using System.Net.Sockets;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Consecutive host ports for a cluster's node port ranges. The ranges lie below Linux's ephemeral
/// range (32768+), where <see cref="TestSupport.FreePort"/> and outgoing connections take theirs,
/// and above the agents' default 20000-22999, so an <c>orc dev</c> on its defaults never clashes.
/// Blocks handed out in this process never overlap; each port is checked free on every address
/// (orc-demo binds 0.0.0.0) before the block is used.
/// </summary>
internal static class PortBlock
{
    private const int Low = 23000;
    private const int High = 32700;

    private static readonly Lock Gate = new();
    private static int _next = Low + Random.Shared.Next(0, (High - Low) / 2);

    public static int Reserve(int count)
    {
        lock (Gate)
        {
            for (var attempt = 0; attempt < 50; attempt++)
            {
                if (_next + count > High)
                {
                    _next = Low;
                }

                var first = _next;
                _next += count;
                if (Enumerable.Range(first, count).All(IsFree))
                {
                    return first;
                }
            }
        }

        throw new InvalidOperationException($"no block of {count} free ports between {Low} and {High}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Any, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
