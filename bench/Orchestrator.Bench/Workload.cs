using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.Bench;

/// <summary>
/// The agent scenario's workload, the same for the orchestrator and for its baselines: Debian's
/// static busybox serving a one-file directory with <c>httpd -f</c>. "Ready" means the same for
/// every subject: <c>GET /</c> on the replica's host port answers 200, checked on a fresh
/// connection every <see cref="DockerProbeInterval"/> or <see cref="ProcessProbeInterval"/>
/// (the orchestrator's readiness probe uses the same path and interval). The intervals are short
/// because they quantize every start-up time; shorter still would load the 2 cores with probes.
/// </summary>
internal static class Workload
{
    public const string Busybox = "/bin/busybox";

    public static readonly TimeSpan DockerProbeInterval = TimeSpan.FromMilliseconds(50);

    public static readonly TimeSpan ProcessProbeInterval = TimeSpan.FromMilliseconds(20);

    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.Zero,
        ConnectTimeout = TimeSpan.FromSeconds(1),
    })
    {
        Timeout = TimeSpan.FromSeconds(2),
    };

    /// <summary>Writes the directory httpd serves (one <c>index.html</c>) and returns its path.</summary>
    public static string WriteSite(string parent)
    {
        var www = Path.Combine(parent, "www");
        Directory.CreateDirectory(www);
        File.WriteAllText(Path.Combine(www, "index.html"), "ok\n");
        return www;
    }

    /// <summary>One readiness check: a fresh connection, <c>GET /</c>, a 2xx answer.</summary>
    public static async Task<bool> AnswersAsync(string address, int port, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"http://{address}:{port}/"));
        request.Headers.ConnectionClose = true;
        try
        {
            using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Checks every <paramref name="interval"/> (first check at once) until the port answers; throws after <paramref name="timeout"/>.</summary>
    public static async Task WaitAnswersAsync(string address, int port, TimeSpan interval, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (!await AnswersAsync(address, port, cancellationToken))
        {
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                throw new TimeoutException($"{address}:{port} did not answer within {timeout.TotalSeconds:F0} s");
            }

            await Task.Delay(interval, TimeProvider.System, cancellationToken);
        }
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static string Ms(IEnumerable<double> values) => string.Join(", ", values.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)));
}

/// <summary>Runs a command to its end and returns its exit code and output.</summary>
internal static class Command
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, CancellationToken cancellationToken = default)
    {
        var startInfo = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static async Task<string> CheckedAsync(string file, IEnumerable<string> args, CancellationToken cancellationToken = default)
    {
        var args2 = args.ToList();
        var result = await RunAsync(file, args2, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args2)} exited with {result.ExitCode}: {result.Stderr.Trim()}");
        }

        return result.Stdout;
    }
}

/// <summary>What <c>/proc</c> says about processes: parents, command lines, resident set size.</summary>
internal static class Proc
{
    public static IEnumerable<int> ChildrenOf(int parent) => AllPids().Where(pid => ParentOf(pid) == parent);

    public static int? ParentOf(int pid)
    {
        try
        {
            // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Processes whose command line contains <paramref name="text"/> (a temp dir unique to this run).</summary>
    public static IEnumerable<int> WithCommandLineContaining(string text) => AllPids().Where(pid =>
    {
        try
        {
            return Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{pid}/cmdline")).Contains(text, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    });

    /// <summary>A field of <c>/proc/PID/status</c> in kB (VmRSS, VmHWM), in MiB.</summary>
    public static double StatusMiB(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var kb = long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                return kb / 1024.0;
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no {field}");
    }

    public static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(); // SIGKILL on Linux.
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private static IEnumerable<int> AllPids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }
}
