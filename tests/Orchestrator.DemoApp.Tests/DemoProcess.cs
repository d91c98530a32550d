using System.Diagnostics;
using System.Text;
using Orchestrator.TestSupport;

namespace Orchestrator.DemoApp.Tests;

/// <summary>
/// The real orc-demo, started as <c>dotnet orc-demo.dll</c> on a free loopback port, as the process
/// driver starts it: the tests can crash it, hang it and signal it without taking the test host along.
/// </summary>
internal sealed class DemoProcess : IAsyncDisposable
{
    /// <summary>Bound on every wait in these tests, so a broken build fails instead of hanging the run.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private const string ListeningMarker = "listening on http://";

    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DemoProcess(Process process, int port)
    {
        Process = process;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = Patience };
    }

    public Process Process { get; }

    public int Port { get; }

    public HttpClient Client { get; }

    /// <summary>Everything the process wrote to stdout and stderr so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts orc-demo with <paramref name="environment"/> (plus PORT) and returns once it listens.</summary>
    public static async Task<DemoProcess> StartAsync(IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        // FreePort hands out a port that is free now; another process may take it before the demo
        // binds it. That shows as an early exit, and a second port fixes it.
        for (var attempt = 1; ; attempt++)
        {
            var demo = Start(FreePort.Next(), environment ?? new Dictionary<string, string>());
            string problem;
            try
            {
                var exited = demo.Process.WaitForExitAsync(cancellationToken);
                var first = await Task.WhenAny(demo._listening.Task, exited).WaitAsync(Patience, cancellationToken);
                if (first == demo._listening.Task)
                {
                    return demo;
                }

                problem = $"orc-demo exited with code {demo.Process.ExitCode} before listening";
            }
            catch (TimeoutException)
            {
                problem = $"orc-demo did not listen within {Patience.TotalSeconds}s";
            }
            catch (OperationCanceledException)
            {
                await demo.DisposeAsync();
                throw;
            }

            var output = demo.Output;
            await demo.DisposeAsync();
            if (attempt >= 3 || !output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"{problem}:\n{output}");
            }
        }
    }

    private static DemoProcess Start(int port, IReadOnlyDictionary<string, string> environment)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"orc-demo.dll is built beside the tests by the project reference, but {dll} is missing");
        }

        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);

        // Only what the test says: no ORC_* or DEMO_* from the environment the tests run in.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("ORC_", StringComparison.Ordinal) || k.StartsWith("DEMO_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        info.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var process = new Process { StartInfo = info };
        var demo = new DemoProcess(process, port);
        process.OutputDataReceived += (_, e) => demo.Append(e.Data);
        process.ErrorDataReceived += (_, e) => demo.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return demo;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.Contains(ListeningMarker, StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }
    }

    /// <summary>Waits (bounded by <see cref="Patience"/>) for the process to end and returns its exit code.</summary>
    public async Task<int> ExitCodeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Process.WaitForExitAsync(cancellationToken).WaitAsync(Patience, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"orc-demo (pid {Process.Id}) did not exit within {Patience.TotalSeconds}s:\n{Output}");
        }

        return Process.ExitCode;
    }

    /// <summary>Sends SIGTERM, as an agent stopping a replica does.</summary>
    public async Task TerminateAsync(CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("kill") { UseShellExecute = false };
        info.ArgumentList.Add("-TERM");
        info.ArgumentList.Add(Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(info)!;
        await kill.WaitForExitAsync(cancellationToken).WaitAsync(Patience, cancellationToken);
        Assert.Equal(0, kill.ExitCode);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync(CancellationToken.None).WaitAsync(Patience);
            }
        }
        catch (InvalidOperationException)
        {
            // It ended between the check and the kill.
        }
        catch (TimeoutException)
        {
            // SIGKILL did not end it in time; nothing more a test can do.
        }

        Process.Dispose();
    }
}
