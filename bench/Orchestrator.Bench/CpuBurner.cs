using System.Diagnostics;
using System.Globalization;

namespace Orchestrator.Bench;

/// <summary>
/// Saturates the machine's cores with busy loops in separate child processes
/// (<c>timeout S sh -c 'while :; do :; done'</c>), two per core, at the bench's own priority.
/// Disposing kills them; so do Ctrl+C and the process's exit (handlers registered here). The
/// <c>timeout</c> ends each one by itself once the limit given to <see cref="Start"/> has passed, so even a
/// bench killed with -9 does not leave them spinning.
/// </summary>
internal sealed class CpuBurner : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly Lock _lock = new();
    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly EventHandler _onExit;
    private bool _stopped;

    private CpuBurner()
    {
        _onCancel = (_, _) => Stop();
        _onExit = (_, _) => Stop();
        Console.CancelKeyPress += _onCancel;
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    public int Count => _processes.Count;

    /// <summary>Starts <paramref name="count"/> busy loops, each ending by itself after <paramref name="limit"/> at the latest.</summary>
    public static CpuBurner Start(int count, TimeSpan limit)
    {
        var burner = new CpuBurner();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var start = new ProcessStartInfo("timeout") { UseShellExecute = false };
                start.ArgumentList.Add("-s");
                start.ArgumentList.Add("KILL");
                start.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(limit.TotalSeconds):F0}"));
                start.ArgumentList.Add("sh");
                start.ArgumentList.Add("-c");
                start.ArgumentList.Add("while :; do :; done");
                var process = Process.Start(start) ?? throw new InvalidOperationException("timeout sh -c 'while :; do :; done' did not start");
                lock (burner._lock)
                {
                    burner._processes.Add(process);
                }
            }
        }
        catch
        {
            burner.Dispose();
            throw;
        }

        return burner;
    }

    /// <summary>How many of the loops still run (one that ended early would leave a core idle).</summary>
    public int Running
    {
        get
        {
            lock (_lock)
            {
                return _processes.Count(p => !p.HasExited);
            }
        }
    }

    public void Dispose()
    {
        Stop();
        Console.CancelKeyPress -= _onCancel;
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        lock (_lock)
        {
            foreach (var process in _processes)
            {
                process.Dispose();
            }

            _processes.Clear();
        }
    }

    private void Stop()
    {
        lock (_lock)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            foreach (var process in _processes)
            {
                try
                {
                    // timeout and its sh child: the whole tree.
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(TimeSpan.FromSeconds(5));
                }
                catch (InvalidOperationException)
                {
                    // Already ended.
                }
            }
        }
    }
}
