using System.Diagnostics;
using System.Globalization;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// The routing mesh against the proxies people put in front of replicas, on loopback only.
/// <c>mesh</c>: a control plane in this process (SQLite) and one real <c>orc-agent</c> child
/// process run 3 replicas of a fast HTTP server (nginx, one worker, answering <c>ok</c>) behind a
/// published port. The same load goes straight to one backend, through the agent's mesh, through
/// nginx and through HAProxy (both round-robin over the same 3 backends with keep-alive
/// upstreams): closed-loop with wrk (requests/s, p50/p99/p99.9), then open-loop at a fixed rate
/// (each request sent on schedule whether or not earlier ones answered; the added p99 is a proxy's p99 minus direct's).
/// <c>mesh-rolling-update</c>: 10 replicas on two real agents, a constant open-loop rate through
/// node 1's mesh for the whole run, and template changes rolled out one after another in the
/// middle of it: every failed request is counted, and the p99 while a rollout runs is compared
/// with the p99 of the steady seconds before and after.
/// </summary>
internal static class MeshBench
{
    private const int Published = 18080;
    private const int NginxProxyPort = 18081;
    private const int HaproxyPort = 18082;

    public static async Task RunAsync(string url, string dir, BenchOptions options, Report report)
    {
        Wrk.EnsureInstalled();
        Tools.Find("nginx");
        Tools.Find("haproxy");
        var script = WriteBackendScript(dir);
        Console.WriteLine($"mesh: 3 nginx replicas (1 worker each) behind published port {Published} on one real orc-agent; wrk -t2 -c{options.MeshConnections} for {options.MeshSeconds} s per subject and round ({options.MeshRounds} rounds, interleaved), then {options.MeshFixedRate} req/s open-loop for {options.MeshSeconds} s");
        var (app, store) = await NodeLossBench.StartControlPlaneAsync(url);
        await using var _ = app;
        await using var agent = RealAgent.Start(app.Endpoints().GrpcUrl, "mesh-1", dir, 31000);
        await agent.WaitReadyAsync(store);
        using var driver = new ClusterDriver(app.Endpoints().GrpcUrl);
        await driver.ApplyAndWaitReadyAsync("meshbench", Spec(3, "1", script), 3, TimeSpan.FromMinutes(2));
        var backends = (await driver.ReplicasAsync("meshbench"))
            .Select(r => r.Status.Endpoints["http"])
            .Select(e => $"{e.Address}:{e.Port.ToString(CultureInfo.InvariantCulture)}")
            .Order(StringComparer.Ordinal)
            .ToList();
        var mesh = new Uri($"http://127.0.0.1:{Published}/");
        using var nginx = StartNginxProxy(dir, backends);
        using var haproxy = StartHaproxy(dir, backends);
        var subjects = new (string Key, string Name, Uri Url)[]
        {
            ("direct", "direct to one backend", new Uri($"http://{backends[0]}/")),
            ("mesh", "orc mesh (YARP)", mesh),
            ("nginx", "nginx, round-robin, keepalive 64", new Uri($"http://127.0.0.1:{NginxProxyPort}/")),
            ("haproxy", "HAProxy, roundrobin, http-reuse", new Uri($"http://127.0.0.1:{HaproxyPort}/")),
        }.Where(s => s.Key == "direct" || options.MeshSubjects.Contains(s.Key, StringComparer.Ordinal)).Select(s => (s.Name, s.Url)).ToArray();
        foreach (var (name, subjectUrl) in subjects)
        {
            await Tools.WaitAnswersAsync(subjectUrl, () => $"{name} does not answer (the agent's log is {agent.LogPath}; {nginx.Describe()}; {haproxy.Describe()})");
        }

        // Closed loop: every subject once per round, interleaved, so drift of the machine hits all alike.
        var closed = subjects.ToDictionary(s => s.Name, _ => new List<LoadResult>());
        for (var round = 1; round <= options.MeshRounds; round++)
        {
            foreach (var (name, subjectUrl) in subjects)
            {
                var result = await Wrk.RunAsync(dir, subjectUrl, 2, options.MeshConnections, TimeSpan.FromSeconds(options.MeshSeconds));
                closed[name].Add(result);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    round {round} {name,-36} {result.RequestsPerSecond,9:F0} req/s  p50 {result.P50Ms:F3}  p99 {result.P99Ms:F3}  p99.9 {result.P999Ms:F3} ms  errors {result.Failures}"));
            }
        }

        var what = $"wrk -t2 -c{options.MeshConnections}, {options.MeshSeconds} s x {options.MeshRounds}";
        var direct = Median(closed[subjects[0].Name]);
        var nginxRps = closed.TryGetValue("nginx, round-robin, keepalive 64", out var n) ? Median(n).RequestsPerSecond : double.NaN;
        foreach (var (name, _) in subjects)
        {
            var m = Median(closed[name]);
            var errors = closed[name].Sum(r => r.Failures);
            report.Add(new Row($"HTTP through a proxy, 3 backends, {what}", name, m.RequestsPerSecond, m.P50Ms, m.P99Ms, subjects[0].Name, m.RequestsPerSecond / direct.RequestsPerSecond,
                string.Create(CultureInfo.InvariantCulture, $"p99.9 {m.P999Ms:F3} ms; {errors} errors; vs nginx {m.RequestsPerSecond / nginxRps:F2}; median round by req/s")));
        }

        // Open loop at a fixed rate: what a proxy adds to each request when nothing is saturated.
        var fixedResults = new Dictionary<string, LoadResult>(StringComparer.Ordinal);
        foreach (var (name, subjectUrl) in subjects)
        {
            using var load = new OpenLoopLoad(subjectUrl);
            await load.RunAsync(options.MeshFixedRate, TimeSpan.FromSeconds(2), CancellationToken.None); // warm the connections
            var latency = new Latency();
            load.Swap(latency);
            var failedBefore = load.Failures;
            await load.RunAsync(options.MeshFixedRate, TimeSpan.FromSeconds(options.MeshSeconds), CancellationToken.None);
            fixedResults[name] = new LoadResult(latency.Count, load.Failures - failedBefore, options.MeshFixedRate, latency.P50, latency.P99, latency.PercentileMs(99.9), load.FirstFailure);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {options.MeshFixedRate} req/s {name,-36} p50 {latency.P50:F3}  p99 {latency.P99:F3}  p99.9 {latency.PercentileMs(99.9):F3} ms  failures {load.Failures - failedBefore}"));
        }

        var directFixed = fixedResults[subjects[0].Name];
        foreach (var (name, _) in subjects)
        {
            var r = fixedResults[name];
            report.Add(new Row($"HTTP at a fixed {options.MeshFixedRate} req/s (open loop), {options.MeshSeconds} s", name, r.RequestsPerSecond, r.P50Ms, r.P99Ms, subjects[0].Name, r.P99Ms / directFixed.P99Ms,
                string.Create(CultureInfo.InvariantCulture, $"added p99 {(r.P99Ms - directFixed.P99Ms) * 1000:F0} µs; p99.9 {r.P999Ms:F3} ms; {r.Failures} failed; ratio is p99 / direct p99")));
        }

        await driver.DeleteAndWaitGoneAsync("meshbench", TimeSpan.FromMinutes(1));
        await app.StopAsync();
    }

    public static async Task RunRollingUpdateAsync(string url, string dir, BenchOptions options, Report report)
    {
        const int Replicas = 10;
        Tools.Find("nginx");
        var script = WriteBackendScript(dir);
        var seconds = options.MeshRollingSeconds;
        var rate = options.MeshRollingRate;
        var steady = TimeSpan.FromSeconds(Math.Min(20, seconds / 6.0));
        Console.WriteLine($"mesh rolling update: {Replicas} nginx replicas on 2 real orc-agents, {rate} req/s open-loop through node 1's mesh for {seconds} s; rollouts (maxSurge 1, maxUnavailable 0) one after another from {steady.TotalSeconds:F0} s until {steady.TotalSeconds:F0} s before the end");
        var (app, store) = await NodeLossBench.StartControlPlaneAsync(url);
        await using var _ = app;
        await using var first = RealAgent.Start(app.Endpoints().GrpcUrl, "mesh-1", dir, 31000, "127.0.0.1");
        await using var second = RealAgent.Start(app.Endpoints().GrpcUrl, "mesh-2", dir, 31200, "127.0.0.2");
        await first.WaitReadyAsync(store);
        await second.WaitReadyAsync(store);
        using var driver = new ClusterDriver(app.Endpoints().GrpcUrl);
        await driver.ApplyAndWaitReadyAsync("meshbench", Spec(Replicas, "1", script), Replicas, TimeSpan.FromMinutes(2));
        var mesh = new Uri($"http://127.0.0.1:{Published}/");
        await Tools.WaitAnswersAsync(mesh, () => $"the mesh of {first.Name} does not answer; its log is {first.LogPath}");

        using var load = new OpenLoopLoad(mesh);
        var before = new Latency();
        load.Swap(before);
        var run = load.RunAsync(rate, TimeSpan.FromSeconds(seconds), CancellationToken.None);
        var started = Stopwatch.GetTimestamp();
        await Task.Delay(steady, TimeProvider.System);

        var during = new Latency();
        load.Swap(during);
        var rollouts = new Latency();
        var version = 1;
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(seconds) - steady - TimeSpan.FromSeconds(10))
        {
            version++;
            var rollout = Stopwatch.GetTimestamp();
            var applied = await driver.Client.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = Spec(Replicas, version.ToString(CultureInfo.InvariantCulture), script) });
            await WaitRolledOutAsync(store, applied.Results.Single().Revision, Replicas);
            rollouts.Record(rollout);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s: version {version} rolled out in {Stopwatch.GetElapsedTime(rollout).TotalSeconds:F2} s; failed so far {load.Failures} of {load.Succeeded + load.Failures}"));
        }

        var after = new Latency();
        load.Swap(after);
        await run;
        var total = load.Succeeded + load.Failures;
        var steadyP99 = Math.Max(before.P99, after.P99);
        var what = $"{Replicas} replicas on 2 agents, {rate} req/s for {seconds} s, {version - 1} rollouts";
        report.Add(new Row($"rolling update under load through the mesh, {what}", "requests while rollouts ran", rate, during.P50, during.P99, "steady seconds before and after", during.P99 / steadyP99,
            string.Create(CultureInfo.InvariantCulture, $"{load.Failures} failed of {total:N0} requests{(load.Failures > 0 ? " (first: " + load.FirstFailure + ")" : "")}; p99.9 {during.PercentileMs(99.9):F3} ms; ratio is p99 / steady p99")));
        report.Add(new Row($"rolling update under load through the mesh, {what}", "steady requests (before, after)", rate, before.P50, steadyP99, "", null,
            string.Create(CultureInfo.InvariantCulture, $"before p99 {before.P99:F3} ms, after p99 {after.P99:F3} ms")));
        report.Add(new Row($"rolling update under load through the mesh, {what}", "apply to rollout Complete", double.NaN, rollouts.P50, rollouts.P99, "", null, "each replaces 10 replicas, one at a time, through the drain gate"));
        await driver.DeleteAndWaitGoneAsync("meshbench", TimeSpan.FromMinutes(1));
        await app.StopAsync();
    }

    private static async Task WaitRolledOutAsync(IStateStore store, long revision, int replicas)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
            var status = await store.GetAsync(StoreKeys.ServiceStatus("meshbench"));
            var service = status.Kv is null ? null : ProtoJson.Decode<ServiceStatus>(status.Kv.Value, status.Kv.Key);
            if (service is { Rollout: RolloutState.Complete } && service.CurrentRevision == revision && service.ReadyReplicas >= replicas && service.Replicas == replicas)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(3))
            {
                throw new TimeoutException($"revision {revision}: rollout {service?.Rollout} ({service?.Reason} {service?.Message}) after 3 minutes");
            }
        }
    }

    private static LoadResult Median(List<LoadResult> results) => results.OrderBy(r => r.RequestsPerSecond).ElementAt(results.Count / 2);

    /// <summary>
    /// The backend: nginx in the foreground with one worker on the replica's host port, answering
    /// <c>ok</c> to everything, its pid file and temp files in a folder of the replica's own.
    /// SIGTERM is nginx's fast shutdown: no pre-stop sleep, no graceful connection draining.
    /// </summary>
    private static string WriteBackendScript(string dir)
    {
        var path = Path.Combine(dir, "mesh-backend.sh");
        var root = Path.Combine(dir, "mesh-backends");
        Directory.CreateDirectory(root);
        File.WriteAllText(path, $$"""
            #!/bin/sh
            set -e
            d={{root}}/$ORC_REPLICA_ID
            mkdir -p "$d"
            cat > "$d/nginx.conf" <<EOF
            worker_processes 1;
            daemon off;
            pid $d/nginx.pid;
            error_log stderr error;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path $d/body;
              proxy_temp_path $d/proxy;
              fastcgi_temp_path $d/fastcgi;
              uwsgi_temp_path $d/uwsgi;
              scgi_temp_path $d/scgi;
              keepalive_requests 1000000;
              server {
                listen $PORT;
                location / { return 200 "ok\n"; }
              }
            }
            EOF
            exec nginx -p "$d" -c "$d/nginx.conf"
            """.Replace("\r", "", StringComparison.Ordinal));
        return path;
    }

    internal static string Spec(int replicas, string version, string script) => $$"""
        kind: Service
        name: meshbench
        replicas: {{replicas}}
        driver: process
        command: ["sh", "{{script}}"]
        env: { VERSION: "{{version}}" }
        resources: { cpu: 100m, memory: 32Mi }
        ports:
          - { name: http, port: 8080, published: {{Published}}, protocol: http }
        health:
          readiness: { http: /, port: http, interval: 500ms }
        update: { maxSurge: 1, maxUnavailable: 0 }
        placement: { strategy: spread }
        """;

    private static Tools.Background StartNginxProxy(string dir, IReadOnlyList<string> backends)
    {
        var root = Path.Combine(dir, "nginx-proxy");
        Directory.CreateDirectory(root);
        var conf = Path.Combine(root, "nginx.conf");
        File.WriteAllText(conf, $$"""
            worker_processes {{Environment.ProcessorCount}};
            daemon off;
            pid {{root}}/nginx.pid;
            error_log stderr error;
            events { worker_connections 8192; }
            http {
              access_log off;
              client_body_temp_path {{root}}/body;
              proxy_temp_path {{root}}/proxy;
              fastcgi_temp_path {{root}}/fastcgi;
              uwsgi_temp_path {{root}}/uwsgi;
              scgi_temp_path {{root}}/scgi;
              keepalive_requests 1000000;
              upstream backends {
            {{string.Join("\n", backends.Select(b => $"    server {b};"))}}
                keepalive 64;
              }
              server {
                listen 127.0.0.1:{{NginxProxyPort}};
                location / {
                  proxy_pass http://backends;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header X-Forwarded-For $remote_addr;
                }
              }
            }
            """);
        return Tools.Start("nginx", "-p", root, "-c", conf);
    }

    private static Tools.Background StartHaproxy(string dir, IReadOnlyList<string> backends)
    {
        var cfg = Path.Combine(dir, "haproxy.cfg");
        File.WriteAllText(cfg, $$"""
            global
              nbthread {{Environment.ProcessorCount}}
              maxconn 8000
            defaults
              mode http
              timeout connect 5s
              timeout client 30s
              timeout server 30s
              option forwardfor
              http-reuse always
            frontend mesh
              bind 127.0.0.1:{{HaproxyPort}}
              default_backend backends
            backend backends
              balance roundrobin
            {{string.Join("\n", backends.Select((b, i) => $"  server b{i} {b}"))}}

            """);
        return Tools.Start("haproxy", "-f", cfg, "-db");
    }
}
