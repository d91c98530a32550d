using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Orchestrator.TestSupport;

/// <summary>
/// A real etcd on free loopback ports with its own data directory. Ready when
/// <see cref="StartAsync"/> returns; killed and its directory deleted on dispose.
/// </summary>
public sealed class EtcdProcess : IAsyncDisposable
{
    private const int StartAttempts = 3;
    private readonly Process _process;
    private readonly TempDirectory _dataDir;
    private readonly OutputTail _output;

    private EtcdProcess(Process process, TempDirectory dataDir, OutputTail output, int clientPort)
    {
        _process = process;
        _dataDir = dataDir;
        _output = output;
        ClientPort = clientPort;
    }

    public int ClientPort { get; }

    /// <summary><c>127.0.0.1:port</c>, what follows <c>etcd://</c> in a store address.</summary>
    public string Endpoint => $"127.0.0.1:{ClientPort.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The process id, for tests that need to stop etcd abruptly.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Starts etcd (skipping the test when it is not installed) and waits until it answers.</summary>
    public static async Task<EtcdProcess> StartAsync(CancellationToken cancellationToken = default)
    {
        var binary = Integration.RequireEtcd();
        Exception? last = null;

        // A free port can be taken by another test between choosing it and etcd binding it; try again with new ones.
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            try
            {
                return await StartOnceAsync(binary, cancellationToken);
            }
            catch (EtcdStartException ex)
            {
                last = ex;
            }
        }

        throw new InvalidOperationException($"etcd ({binary}) did not start after {StartAttempts} attempts", last);
    }

    private static async Task<EtcdProcess> StartOnceAsync(string binary, CancellationToken cancellationToken)
    {
        var dataDir = new TempDirectory("orc-etcd");
        var clientPort = FreePort.Next();
        var peerPort = FreePort.Next();
        var client = $"http://127.0.0.1:{clientPort.ToString(CultureInfo.InvariantCulture)}";
        var peer = $"http://127.0.0.1:{peerPort.ToString(CultureInfo.InvariantCulture)}";
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--name", "orc-test",
            "--data-dir", dataDir.File("data"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"orc-test={peer}",
            "--logger", "zap",
            "--log-level", "error",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var output = new OutputTail();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var etcd = new EtcdProcess(process, dataDir, output, clientPort);
        try
        {
            await etcd.WaitUntilServingAsync(cancellationToken);
            return etcd;
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }
    }

    private async Task WaitUntilServingAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        guard.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (_process.HasExited)
            {
                throw new EtcdStartException($"etcd exited with code {_process.ExitCode} before serving: {_output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://{Endpoint}/health"), guard.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!guard.IsCancellationRequested)
            {
                // The request timed out; etcd is still starting.
            }
            catch (OperationCanceledException) when (guard.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new EtcdStartException($"etcd did not answer on {Endpoint} within 30s: {_output}");
            }
            catch (SocketException)
            {
                // Not listening yet.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, guard.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
        _dataDir.Dispose();
    }

    private sealed class EtcdStartException(string message) : Exception(message);

    /// <summary>The last lines etcd printed, for error messages.</summary>
    private sealed class OutputTail
    {
        private readonly Queue<string> _lines = new();

        public void Add(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lines)
            {
                _lines.Enqueue(line);
                while (_lines.Count > 20)
                {
                    _lines.Dequeue();
                }
            }
        }

        public override string ToString()
        {
            lock (_lines)
            {
                return _lines.Count == 0 ? "(no output)" : string.Join(Environment.NewLine, _lines);
            }
        }
    }
}
