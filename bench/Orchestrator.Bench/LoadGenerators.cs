using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Orchestrator.Bench;

/// <summary>What one load run saw: requests answered 2xx, failures, throughput and the latency distribution.</summary>
internal sealed record LoadResult(long Requests, long Failures, double RequestsPerSecond, double P50Ms, double P99Ms, double P999Ms, string FirstFailure = "");

/// <summary>
/// Closed-loop load with <c>wrk</c> (as many requests as the connections can carry), its
/// percentiles read through a Lua <c>done</c> hook because <c>--latency</c> prints no p99.9.
/// </summary>
internal static class Wrk
{
    private const string Script = """
        done = function(summary, latency, requests)
          local e = summary.errors
          io.write(string.format("ORC-RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
            e.connect + e.read + e.write + e.status + e.timeout,
            latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
        end
        """;

    public static void EnsureInstalled()
    {
        if (!Tools.Exists("wrk"))
        {
            throw new InvalidOperationException("wrk is not installed; apt-get install -y wrk");
        }
    }

    public static async Task<LoadResult> RunAsync(string dir, Uri url, int threads, int connections, TimeSpan duration)
    {
        var script = Path.Combine(dir, "wrk-result.lua");
        await File.WriteAllTextAsync(script, Script);
        var output = await Tools.RunAsync(
            "wrk",
            ["-t", threads.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", $"{(int)duration.TotalSeconds}s", "-s", script, url.ToString()],
            duration + TimeSpan.FromSeconds(30));
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("ORC-RESULT ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"wrk printed no result line:\n{output}");
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var (requests, micros, errors) = (f[0], f[1], f[2]);
        return new LoadResult(requests - errors, errors, requests / (micros / 1e6), f[3] / 1000.0, f[4] / 1000.0, f[5] / 1000.0);
    }
}

/// <summary>
/// Open-loop load at a fixed rate over HTTP/1.1 keep-alive: request i is due at start + i/rate
/// and is sent then (within the 1 ms tick of the sending loop) whether or not earlier ones have
/// answered, so a stall of the server does not slow the sending (no coordinated omission). Its
/// latency runs from the moment it is handed to the client until its whole response is read: the
/// tick's own lateness is the generator's, not the server's, and is left out. A failure is an
/// exception or a status other than 2xx.
/// </summary>
internal sealed class OpenLoopLoad : IDisposable
{
    private readonly HttpClient _client;
    private readonly Uri _url;
    private Latency _latency = new();
    private long _failures;
    private long _ok;
    private string _firstFailure = "";

    public OpenLoopLoad(Uri url)
    {
        _url = url;
        _client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 512,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    public long Failures => Interlocked.Read(ref _failures);

    public long Succeeded => Interlocked.Read(ref _ok);

    public string FirstFailure => Volatile.Read(ref _firstFailure);

    /// <summary>Starts recording latencies into a fresh histogram and returns the one recorded so far.</summary>
    public Latency Swap(Latency next) => Interlocked.Exchange(ref _latency, next);

    /// <summary>Sends <paramref name="rate"/> requests a second until <paramref name="duration"/> has passed or <paramref name="stop"/> is cancelled, then waits for the last answers.</summary>
    public async Task RunAsync(int rate, TimeSpan duration, CancellationToken stop)
    {
        var inFlight = new List<Task>(rate);
        var started = Stopwatch.GetTimestamp();
        var ticksPerRequest = Stopwatch.Frequency / (double)rate;
        long sent = 0;
        var total = (long)(duration.TotalSeconds * rate);
        while (sent < total && !stop.IsCancellationRequested)
        {
            var elapsed = Stopwatch.GetTimestamp() - started;
            var due = Math.Min(total, (long)(elapsed / ticksPerRequest) + 1);
            for (; sent < due; sent++)
            {
                inFlight.Add(SendAsync());
            }

            if (inFlight.Count > 4 * rate)
            {
                inFlight.RemoveAll(t => t.IsCompleted);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System, CancellationToken.None);
        }

        await Task.WhenAll(inFlight);
    }

    private async Task SendAsync()
    {
        await Task.Yield();
        var sent = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _client.GetAsync(_url, HttpCompletionOption.ResponseContentRead);
            if (response.IsSuccessStatusCode)
            {
                Volatile.Read(ref _latency).Record(sent);
                Interlocked.Increment(ref _ok);
                return;
            }

            Fail($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            Fail($"{e.GetType().Name}: {e.Message}");
        }
    }

    private void Fail(string what)
    {
        Interlocked.Increment(ref _failures);
        Interlocked.CompareExchange(ref _firstFailure, what, "");
    }

    public void Dispose() => _client.Dispose();
}

/// <summary>Running the external programs the mesh scenarios compare against.</summary>
internal static class Tools
{
    public static bool Exists(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/usr/sbin").Split(':').Concat(["/usr/sbin", "/usr/bin"])
            .Any(d => File.Exists(Path.Combine(d, program)));

    public static string Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin"])
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{program} is not installed; apt-get install -y {program}");

    /// <summary>Runs a program to its end (bounded) and returns its standard output and error.</summary>
    public static async Task<string> RunAsync(string program, IEnumerable<string> args, TimeSpan bound)
    {
        var start = new ProcessStartInfo(Find(program)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(bound, TimeProvider.System);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not end within {bound.TotalSeconds:F0} s");
        }

        return await stdout + await stderr;
    }

    /// <summary>Starts a long-running program (a proxy) that is killed when the returned handle is disposed.</summary>
    public static Background Start(string program, params string[] args)
    {
        var start = new ProcessStartInfo(Find(program)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var background = new Background(program, process);
        process.OutputDataReceived += (_, e) => background.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => background.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return background;
    }

    /// <summary>Waits until <paramref name="url"/> answers 2xx (at most 30 s).</summary>
    public static async Task WaitAnswersAsync(Uri url, Func<string>? why = null)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not up yet.
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"{url} did not answer 2xx within 30 s{(why is null ? "" : ": " + why())}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }
    }

    internal sealed class Background(string program, Process process) : IDisposable
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

        public string Program { get; } = program;

        /// <summary>The last lines it printed, and whether it has exited.</summary>
        public string Describe() => $"{Program}{(process.HasExited ? $" exited with {process.ExitCode}" : " runs")}; it printed: {string.Join(" | ", _output)}";

        internal void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            _output.Enqueue(line);
            while (_output.Count > 20)
            {
                _output.TryDequeue(out _);
            }
        }

        public void Dispose()
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(TimeSpan.FromSeconds(10));
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            process.Dispose();
        }
    }
}
