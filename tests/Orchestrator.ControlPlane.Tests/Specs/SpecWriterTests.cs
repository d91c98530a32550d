using FsCheck.Xunit;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Specs;

public class SpecWriterTests
{
    public static TheoryData<string> SpecFiles() =>
        new(Directory.GetFiles(RepoPaths.GoodSpecs, "*.yaml")
            .Concat(Directory.GetFiles(RepoPaths.Examples, "*.yaml"))
            .Select(f => Path.GetRelativePath(RepoPaths.Root, f))
            .Order(StringComparer.Ordinal));

    private static SpecParseResult Parse(string yaml, string source = "written.yaml")
    {
        var result = SpecParser.Parse(yaml, source);
        Assert.True(result.IsValid, yaml + "\n" + string.Join("\n", result.Errors));
        return result;
    }

    [Theory]
    [MemberData(nameof(SpecFiles))]
    public void Writing_a_parsed_spec_and_parsing_it_again_gives_the_same_spec(string relativePath)
    {
        var original = Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, relativePath)), relativePath);

        var written = SpecWriter.ToYaml(original.Documents);
        var reparsed = Parse(written);

        Assert.Equal(original.Documents.Select(d => (d.Service, d.Job)), reparsed.Documents.Select(d => (d.Service, d.Job)));
    }

    [Property(MaxTest = 300)]
    public void Any_valid_service_survives_a_round_trip_through_yaml(int seed)
    {
        var spec = new SpecGenerator(seed).Service();

        var reparsed = Parse(SpecWriter.ToYaml(spec));

        Assert.Equal(spec, Assert.Single(reparsed.Documents).Service);
    }

    [Property(MaxTest = 300)]
    public void Any_valid_job_survives_a_round_trip_through_yaml(int seed)
    {
        var spec = new SpecGenerator(seed).Job();

        var reparsed = Parse(SpecWriter.ToYaml(spec));

        Assert.Equal(spec, Assert.Single(reparsed.Documents).Job);
    }

    [Fact]
    public void Several_documents_are_written_as_one_file_that_parses_back_in_order()
    {
        var generator = new SpecGenerator(7);
        var documents = new[]
        {
            new SpecDocument(1, generator.Service(), null),
            new SpecDocument(1, null, generator.Job()),
            new SpecDocument(1, generator.Service(), null),
        };

        var reparsed = Parse(SpecWriter.ToYaml(documents));

        Assert.Equal(documents.Select(d => (d.Service, d.Job)), reparsed.Documents.Select(d => (d.Service, d.Job)));
    }

    [Fact]
    public void A_service_is_written_in_the_format_users_write()
    {
        var spec = Parse("""
            kind: Service
            name: web
            replicas: 3
            image: nginx:1.27
            command: ["nginx", "-g", "daemon off;"]
            env: { GREETING: hello }
            resources: { cpu: 250m, memory: 128Mi }
            ports:
              - { name: http, port: 80, published: 8080 }
            health:
              readiness: { http: /, interval: 1s }
            placement: { constraints: ["zone == a"] }
            """).Documents[0].Service!;

        Assert.Equal("""
            kind: Service
            name: web
            replicas: 3
            driver: docker
            image: nginx:1.27
            command: [nginx, -g, daemon off;]
            env:
              GREETING: hello
            resources: { cpu: 250m, memory: 128Mi }
            ports:
              - { name: http, port: 80, published: 8080, protocol: http }
            health:
              readiness:
                http: /
                port: http
                interval: 1s
                timeout: 1s
                initialDelay: 0s
                failureThreshold: 3
                successThreshold: 1
            restart: always
            stopGracePeriod: 10s
            placement:
              constraints: [zone == a]
              strategy: spread
            update: { maxSurge: 1, maxUnavailable: 0, minReady: 0s, progressDeadline: 2m, onFailure: rollback }
            loadBalancing: round-robin

            """.Replace("\r\n", "\n", StringComparison.Ordinal), SpecWriter.ToYaml(spec));
    }

    [Fact]
    public void A_job_is_written_with_its_counts_first()
    {
        var job = new JobSpec
        {
            Name = "report",
            Completions = 5,
            Parallelism = 2,
            BackoffLimit = 3,
            Template = new ReplicaTemplate
            {
                Driver = Driver.Process,
                Command = { "sh", "-c", "echo done" },
                Resources = new Resources { CpuMillis = 1500, MemoryBytes = 512_000_000 },
                Restart = RestartPolicy.Never,
                StopGracePeriod = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(90)),
            },
        };

        Assert.Equal(
            "kind: Job\nname: report\ncompletions: 5\nparallelism: 2\nbackoffLimit: 3\ndriver: process\n" +
            "command: [sh, -c, echo done]\nresources: { cpu: 1500m, memory: 512M }\nrestart: never\nstopGracePeriod: 1m30s\n",
            SpecWriter.ToYaml(job));
    }
}
