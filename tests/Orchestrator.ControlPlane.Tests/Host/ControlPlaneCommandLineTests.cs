using Orchestrator.ControlPlane.Hosting;

namespace Orchestrator.ControlPlane.Tests.Host;

public class ControlPlaneCommandLineTests
{
    [Fact]
    public void No_arguments_give_the_documented_defaults()
    {
        var parsed = ControlPlaneCommandLine.Parse([]);

        Assert.Null(parsed.Error);
        Assert.Equal(("127.0.0.1:7070", "127.0.0.1:7071", "sqlite://./orc-data/state.db"), (parsed.Options!.Listen, parsed.Options.HttpListen, parsed.Options.Store));
        Assert.False(string.IsNullOrEmpty(parsed.Options.MemberId));
    }

    [Fact]
    public void Flags_take_their_value_after_a_space_or_an_equals_sign()
    {
        var parsed = ControlPlaneCommandLine.Parse(["--listen", "0.0.0.0:9090", "--http-listen=[::1]:9091", "--store", "etcd://127.0.0.1:2379,127.0.0.1:22379", "--member-id=cp-2"]);

        Assert.Null(parsed.Error);
        Assert.Equal(("0.0.0.0:9090", "[::1]:9091", "etcd://127.0.0.1:2379,127.0.0.1:22379", "cp-2"), (parsed.Options!.Listen, parsed.Options.HttpListen, parsed.Options.Store, parsed.Options.MemberId));
    }

    [Fact]
    public void Event_ttl_and_job_replica_retention_take_durations()
    {
        var parsed = ControlPlaneCommandLine.Parse(["--event-ttl", "24h", "--job-replica-retention=90m"]);

        Assert.Null(parsed.Error);
        Assert.Equal((TimeSpan.FromHours(24), TimeSpan.FromMinutes(90)), (parsed.Options!.EventTtl, parsed.Options.JobReplicaRetention));
        Assert.Equal((TimeSpan.FromHours(1), TimeSpan.FromHours(1)), (new ControlPlaneOptions().EventTtl, new ControlPlaneOptions().JobReplicaRetention));
    }

    [Fact]
    public void Drain_timeout_is_a_duration_that_defaults_to_five_seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), ControlPlaneCommandLine.Parse([]).Options!.DrainTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), ControlPlaneCommandLine.Parse(["--drain-timeout", "1500ms"]).Options!.DrainTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), ControlPlaneCommandLine.Parse(["--drain-timeout=2m"]).Options!.DrainTimeout);
    }

    [Fact]
    public void Node_grace_is_a_duration_of_at_least_two_heartbeats()
    {
        Assert.Null(ControlPlaneCommandLine.Parse([]).Options!.NodeGrace);
        Assert.Equal(TimeSpan.FromSeconds(10), ControlPlaneCommandLine.Parse(["--node-grace", "10s"]).Options!.NodeGrace);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), ControlPlaneCommandLine.Parse(["--node-grace=2500ms"]).Options!.NodeGrace);
    }

    [Theory]
    [InlineData(new[] { "--node-grace", "soon" }, "--node-grace: ")]
    [InlineData(new[] { "--node-grace", "1s" }, "--node-grace 1s is too short: agents heartbeat every 1s, so a grace under 2s would judge healthy nodes lost; use 2s or more (default 3s)")]
    [InlineData(new[] { "--node-grace" }, "--node-grace needs a value, for example --node-grace 3s")]
    [InlineData(new[] { "--port", "1" }, "unknown option --port; run orc-control-plane --help")]
    [InlineData(new[] { "--listen" }, "--listen needs a value, for example --listen 127.0.0.1:7070")]
    [InlineData(new[] { "--listen", "7070" }, "--listen \"7070\" is not host:port")]
    [InlineData(new[] { "--listen", "example.com:7070" }, "\"example.com\" is not an IP address")]
    [InlineData(new[] { "--http-listen", "127.0.0.1:99999" }, "\"99999\" is not a port")]
    [InlineData(new[] { "--listen", "127.0.0.1:7070", "--http-listen", "127.0.0.1:7070" }, "both use port 7070")]
    [InlineData(new[] { "--store", "postgres://db" }, "--store: store 'postgres://db' is not a store address; give one of sqlite://")]
    [InlineData(new[] { "serve" }, "unexpected argument \"serve\"")]
    [InlineData(new[] { "--member-id", "cp/1" }, "--member-id \"cp/1\" is not a member id; use lower-case letters, digits, '-' and '.'")]
    [InlineData(new[] { "--member-id", "CP-1" }, "for example --member-id cp-1")]
    [InlineData(new[] { "--advertise", "10.0.0.1:7070" }, "--advertise \"10.0.0.1:7070\" is not a gRPC address; give http://HOST:PORT")]
    [InlineData(new[] { "--advertise", "http://10.0.0.1" }, "for example --advertise http://10.0.0.1:7070")]
    [InlineData(new[] { "--event-ttl", "soon" }, "--event-ttl: \"soon\" is not a duration")]
    [InlineData(new[] { "--event-ttl", "10s" }, "--event-ttl \"10s\" is shorter than a minute; give a duration of at least a minute, for example --event-ttl 24h")]
    [InlineData(new[] { "--job-replica-retention" }, "--job-replica-retention needs a value, for example --job-replica-retention 2h")]
    [InlineData(new[] { "--drain-timeout", "10ms" }, "--drain-timeout 10ms is out of range: give 100ms to 10m (default 5s)")]
    [InlineData(new[] { "--drain-timeout", "1h" }, "--drain-timeout 1h is out of range")]
    [InlineData(new[] { "--drain-timeout" }, "--drain-timeout needs a value, for example --drain-timeout 5s")]
    public void A_bad_command_line_gives_one_error_that_says_what_to_fix(string[] args, string expected)
    {
        var parsed = ControlPlaneCommandLine.Parse(args);

        Assert.Null(parsed.Options);
        Assert.NotNull(parsed.Error);
        Assert.Contains(expected, parsed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', parsed.Error);
    }

    [Fact]
    public void The_advertised_address_is_kept_as_scheme_host_and_port()
    {
        var parsed = ControlPlaneCommandLine.Parse(["--listen", "0.0.0.0:7070", "--advertise", "http://cp-1.example.net:7070/", "--member-id", "cp-1.example.net"]);

        Assert.Null(parsed.Error);
        Assert.Equal(("http://cp-1.example.net:7070", "cp-1.example.net"), (parsed.Options!.Advertise, parsed.Options.MemberId));
        Assert.Null(ControlPlaneCommandLine.Parse([]).Options!.Advertise);
    }

    [Fact]
    public void Help_is_recognised_anywhere()
    {
        Assert.True(ControlPlaneCommandLine.Parse(["--store", "sqlite://x.db", "--help"]).Help);
        Assert.Contains("--http-listen", ControlPlaneCommandLine.Usage, StringComparison.Ordinal);
    }
}
