using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Orchestrator.TestSupport;

/// <summary>
/// The real <c>orc-control-plane</c> executable run as a child process (<c>dotnet orc-control-plane.dll</c>)
/// on ephemeral loopback ports. It is ready when it logs the line saying where it listens,
/// from which the bound ports are read. Dispose kills it if it still runs.
/// </summary>
public sealed partial class ControlPlaneProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<(Uri Grpc, Uri Http)> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ControlPlaneProcess(Process process) => _process = process;

    public Uri GrpcUrl { get; private set; } = null!;

    public Uri HttpUrl { get; private set; } = null!;

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
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

    /// <summary>Where the host's build output is: the copy beside the tests, or the host project's own bin folder.</summary>
    public static string HostDll()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "orc-control-plane.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "orc-control-plane.runtimeconfig.json")))
        {
            return beside;
        }

        // bin/<configuration>/net10.0/: build the host in the same configuration as the tests.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent?.Name ?? "Debug";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "control-plane", "Host", "bin", configuration, "net10.0", "orc-control-plane.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("orc-control-plane.dll was not found beside the tests nor under control-plane/Host/bin; build the solution first (dotnet build)");
    }

    /// <summary>Starts the executable with <c>--store</c> and extra arguments, listening on port 0, and waits until it says where it listens.</summary>
    public static async Task<ControlPlaneProcess> StartAsync(string store, IEnumerable<string>? extraArgs = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(HostDll());
        foreach (var arg in new[] { "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--store", store }.Concat(extraArgs ?? []))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "";
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var cp = new ControlPlaneProcess(process);
        process.OutputDataReceived += (_, e) => cp.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => cp.OnLine(e.Data);
        process.Exited += (_, _) => cp._ready.TrySetException(new InvalidOperationException($"orc-control-plane exited before it was ready; its output:\n{cp.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // A bound on the wait (a hung start fails the test instead of hanging it), not a timing assertion.
            var (grpc, http) = await cp._ready.Task.WaitAsync(TimeSpan.FromSeconds(60), TimeProvider.System, cancellationToken);
            cp.GrpcUrl = grpc;
            cp.HttpUrl = http;
            return cp;
        }
        catch
        {
            await cp.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the process at once (SIGKILL): no shutdown code runs, like a power cut.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM (what systemd and docker stop send) and waits for the process to exit; returns its exit code.</summary>
    public async Task<int> TerminateAsync(CancellationToken cancellationToken = default)
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync(cancellationToken);
        }

        // A bound on the wait (a hung shutdown fails the test instead of hanging it), not a timing assertion.
        await _process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TimeProvider.System, cancellationToken);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _ready.TrySetResult((new Uri("http://" + match.Groups["grpc"].Value), new Uri("http://" + match.Groups["http"].Value)));
        }
    }

    [GeneratedRegex(@"gRPC on (?<grpc>\S+) \(HTTP/2\), health and metrics on http://(?<http>\S+) \(HTTP/1\.1\)")]
    private static partial Regex ListeningLine();
}
