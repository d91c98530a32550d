using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>Assertions on the good corpus under tests/testassets/specs/good: what each file means after defaults.</summary>
public class GoodSpecTests
{
    private static IReadOnlyList<SpecDocument> Load(string file)
    {
        var result = SpecParser.Parse(File.ReadAllText(Path.Combine(RepoPaths.GoodSpecs, file)), file);
        Assert.Equal([], result.Errors.Select(e => e.ToString()));
        return result.Documents;
    }

    [Fact]
    public void Everything_yaml_keeps_every_value_it_sets()
    {
        var service = Assert.Single(Load("everything.yaml")).Service!;
        var t = service.Template;

        Assert.Equal(0, service.Replicas);
        Assert.Equal(["/app/api"], t.Command);
        Assert.Equal(["--port", "${PORT}", "--metrics", "${PORT_METRICS}"], t.Args);
        Assert.Equal("4", t.Env["WORKERS"]);
        Assert.Equal("true", t.Env["FEATURE_X"]);
        Assert.Equal(1500, t.Resources.CpuMillis);
        Assert.Equal(1L << 30, t.Resources.MemoryBytes);
        Assert.Equal(new PortSpec { Name = "metrics", Port = 9090, Protocol = Protocol.Tcp }, t.Ports[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(250), t.Health.Readiness.Timeout.ToTimeSpan());
        Assert.Equal(2, t.Health.Readiness.SuccessThreshold);
        Assert.Equal(TimeSpan.FromSeconds(90), t.Health.Liveness.Interval.ToTimeSpan());
        Assert.Equal(["cat", "/tmp/alive"], t.Health.Liveness.Exec.Command);
        Assert.Equal(RestartPolicy.OnFailure, t.Restart);
        Assert.Equal(TimeSpan.FromSeconds(45), t.StopGracePeriod.ToTimeSpan());
        Assert.Equal(new IntOrPercent { Value = 25, Percent = true }, service.Update.MaxSurge);
        Assert.Equal(new IntOrPercent { Value = 10, Percent = true }, service.Update.MaxUnavailable);
        Assert.Equal(TimeSpan.FromMinutes(10), service.Update.ProgressDeadline.ToTimeSpan());
        Assert.Equal(OnFailure.Pause, service.Update.OnFailure);
        Assert.Equal(LoadBalancing.LeastRequests, service.LoadBalancing);
        Assert.Equal(
            [ConstraintOperator.Equal, ConstraintOperator.NotEqual, ConstraintOperator.In, ConstraintOperator.NotIn],
            t.Placement.Constraints.Select(c => c.Operator));
        Assert.Equal(["db", "cache"], t.Placement.Constraints[3].Values);
        Assert.Equal(PlacementStrategy.Binpack, t.Placement.Strategy);
        Assert.Equal(2, t.Placement.MaxPerNode);
        Assert.Equal("zone", t.Placement.SpreadBy);
    }

    [Fact]
    public void Several_documents_yaml_gives_a_service_and_a_job_of_the_same_name()
    {
        var documents = Load("several-documents.yaml");

        Assert.Equal([("service", "app"), ("job", "app")], documents.Select(d => (d.Kind, d.Name)));
        var service = documents[0].Service!;
        Assert.Equal(Driver.Process, service.Template.Driver);
        Assert.Equal("http", service.Template.Ports[0].Name);
        Assert.Equal("http", service.Template.Health.Readiness.Port);
        var job = documents[1].Job!;
        Assert.Equal(Driver.Docker, job.Template.Driver);
        Assert.Equal(["sh", "-c", "echo migrated"], job.Template.Command);
        Assert.Equal(RestartPolicy.Never, job.Template.Restart);
        Assert.Equal((3, 3, 0), (job.Completions, job.Parallelism, job.BackoffLimit));
    }

    [Fact]
    public void Units_yaml_reads_every_notation()
    {
        var services = Load("units.yaml").Select(d => d.Service!).ToList();

        Assert.Equal([250L, 2000L, 1500L], services.Select(s => s.Template.Resources.CpuMillis));
        Assert.Equal([512_000_000L, 1_000_000_000L, 512L << 20], services.Select(s => s.Template.Resources.MemoryBytes));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), services[0].Template.StopGracePeriod.ToTimeSpan());
        Assert.Equal(TimeSpan.Zero, services[1].Template.StopGracePeriod.ToTimeSpan());
        Assert.Equal(TimeSpan.FromHours(1), services[0].Update.ProgressDeadline.ToTimeSpan());
        Assert.Equal(new IntOrPercent { Value = 1 }, services[0].Update.MaxUnavailable);
    }
}
