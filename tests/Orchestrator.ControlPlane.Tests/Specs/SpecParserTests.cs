using Google.Protobuf;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Specs;

public class SpecParserTests
{
    private static SpecDocument ParseOne(string yaml)
    {
        var result = SpecParser.Parse(yaml, "test.yaml");
        Assert.Equal([], result.Errors.Select(e => e.ToString()));
        return Assert.Single(result.Documents);
    }

    private static List<string> Errors(string yaml) =>
        SpecParser.Parse(yaml, "t.yaml").Errors.Select(e => e.ToString()).ToList();

    [Fact]
    public void A_minimal_service_gets_every_default_applied()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: nginx:1.27\n");

        var service = Assert.IsType<ServiceSpec>(doc.Service);
        Assert.Equal("service", doc.Kind);
        Assert.Equal(1, doc.Line);
        Assert.Equal("web", service.Name);
        Assert.Equal(1, service.Replicas);
        var t = service.Template;
        Assert.Equal(Driver.Docker, t.Driver);
        Assert.Equal("nginx:1.27", t.Image);
        Assert.Empty(t.Command);
        Assert.Equal(100, t.Resources.CpuMillis);
        Assert.Equal(64L * 1024 * 1024, t.Resources.MemoryBytes);
        Assert.Equal(RestartPolicy.Always, t.Restart);
        Assert.Equal(TimeSpan.FromSeconds(10), t.StopGracePeriod.ToTimeSpan());
        Assert.Equal(PlacementStrategy.Spread, t.Placement.Strategy);
        Assert.Equal(0, t.Placement.MaxPerNode);
        Assert.NotNull(t.Health);
        Assert.Null(t.Health.Readiness);
        Assert.Equal(new IntOrPercent { Value = 1 }, service.Update.MaxSurge);
        Assert.Equal(new IntOrPercent { Value = 0 }, service.Update.MaxUnavailable);
        Assert.Equal(TimeSpan.Zero, service.Update.MinReady.ToTimeSpan());
        Assert.Equal(TimeSpan.FromMinutes(2), service.Update.ProgressDeadline.ToTimeSpan());
        Assert.Equal(OnFailure.Rollback, service.Update.OnFailure);
        Assert.Equal(LoadBalancing.RoundRobin, service.LoadBalancing);
    }

    [Theory]
    [InlineData("round-robin", LoadBalancing.RoundRobin)]
    [InlineData("least-requests", LoadBalancing.LeastRequests)]
    [InlineData("power-of-two-choices", LoadBalancing.PowerOfTwoChoices)]
    [InlineData("Least-Requests", LoadBalancing.LeastRequests)]
    public void Load_balancing_is_one_of_three_policies(string word, LoadBalancing expected)
    {
        var service = ParseOne($"kind: Service\nname: web\nimage: nginx:1.27\nloadBalancing: {word}\n").Service!;

        Assert.Equal(expected, service.LoadBalancing);
    }

    [Fact]
    public void A_minimal_job_runs_once_as_a_process_and_restarts_on_failure()
    {
        var doc = ParseOne("kind: Job\nname: once\ncommand: [\"true\"]\n");

        var job = Assert.IsType<JobSpec>(doc.Job);
        Assert.Equal("job", doc.Kind);
        Assert.Equal(1, job.Completions);
        Assert.Equal(1, job.Parallelism);
        Assert.Equal(6, job.BackoffLimit);
        Assert.Equal(Driver.Process, job.Template.Driver);
        Assert.Equal(RestartPolicy.OnFailure, job.Template.Restart);
    }

    [Fact]
    public void Probe_defaults_fill_port_interval_timeout_and_thresholds()
    {
        var doc = ParseOne("""
            kind: Service
            name: web
            image: nginx
            ports: [{ port: 80 }, { name: admin, port: 81, protocol: tcp }]
            health:
              readiness: { http: /ready }
              liveness: { tcp: admin }
            """);

        var t = doc.Service!.Template;
        Assert.Equal(new PortSpec { Name = "http", Port = 80, Protocol = Protocol.Http }, t.Ports[0]);
        Assert.Equal(new PortSpec { Name = "admin", Port = 81, Protocol = Protocol.Tcp }, t.Ports[1]);
        var readiness = t.Health.Readiness;
        Assert.Equal("/ready", readiness.Http);
        Assert.Equal("http", readiness.Port);
        Assert.Equal(TimeSpan.FromSeconds(2), readiness.Interval.ToTimeSpan());
        Assert.Equal(TimeSpan.FromSeconds(1), readiness.Timeout.ToTimeSpan());
        Assert.Equal(TimeSpan.Zero, readiness.InitialDelay.ToTimeSpan());
        Assert.Equal(3, readiness.FailureThreshold);
        Assert.Equal(1, readiness.SuccessThreshold);
        Assert.Equal("admin", t.Health.Liveness.Tcp);
        Assert.Equal(TimeSpan.FromSeconds(5), t.Health.Liveness.Interval.ToTimeSpan());
    }

    [Fact]
    public void A_probe_interval_shorter_than_a_second_shortens_the_default_timeout_to_match()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: nginx\nhealth: { liveness: { exec: [\"true\"], interval: 300ms } }\n");

        Assert.Equal(TimeSpan.FromMilliseconds(300), doc.Service!.Template.Health.Liveness.Timeout.ToTimeSpan());
    }

    [Fact]
    public void Env_values_written_as_numbers_or_booleans_are_kept_as_written()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: nginx\nenv: { WORKERS: 4, DEBUG: true, RATIO: 0.50, EMPTY: \"\" }\n");

        var env = doc.Service!.Template.Env;
        Assert.Equal("4", env["WORKERS"]);
        Assert.Equal("true", env["DEBUG"]);
        Assert.Equal("0.50", env["RATIO"]);
        Assert.Equal("", env["EMPTY"]);
    }

    [Fact]
    public void Constraints_are_parsed_into_key_operator_values_and_text()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: nginx\nplacement: { constraints: [\"zone == a\", \"region not in (eu, us)\"] }\n");

        var c = doc.Service!.Template.Placement.Constraints;
        Assert.Equal(new Constraint { Key = "zone", Operator = ConstraintOperator.Equal, Values = { "a" }, Text = "zone == a" }, c[0]);
        Assert.Equal(new Constraint { Key = "region", Operator = ConstraintOperator.NotIn, Values = { "eu", "us" }, Text = "region not in (eu, us)" }, c[1]);
    }

    [Fact]
    public void Kind_is_accepted_in_any_case()
    {
        var result = SpecParser.Parse("kind: SERVICE\nname: a\nimage: x\n---\nkind: job\nname: b\nimage: x\n", "t.yaml");

        Assert.True(result.IsValid);
        Assert.Equal(["service", "job"], result.Documents.Select(d => d.Kind));
        Assert.Equal([1, 5], result.Documents.Select(d => d.Line));
    }

    [Fact]
    public void Every_problem_in_a_document_is_reported_not_just_the_first()
    {
        var errors = Errors("""
            kind: Service
            name: Web_App
            replicas: three
            imagee: nginx
            resources: { cpu: 500, memory: 128MB }
            """);

        Assert.Equal(
            [
                "t.yaml:1: image: missing; set image (such as nginx:1.27) to run a container, or command (such as [\"python3\", \"-m\", \"http.server\"]) to run a host process",
                "t.yaml:2: name: \"Web_App\" is not a valid name; names are lowercase letters, digits and '-', starting and ending with a letter or digit; did you mean \"web-app\"?",
                "t.yaml:3: replicas: \"three\" is not a whole number; write a count such as 3",
                "t.yaml:4: imagee: unknown field; did you mean image?",
                "t.yaml:5: resources.cpu: 500 means 500 cores, more than a replica may ask for (at most 128); did you mean 500m?",
                "t.yaml:5: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?",
            ],
            errors);
    }

    [Fact]
    public void A_bad_file_yields_no_documents_even_when_other_documents_are_valid()
    {
        var result = SpecParser.Parse("kind: Service\nname: a\nimage: x\n---\nkind: Service\nname: b\n", "t.yaml");

        Assert.Empty(result.Documents);
        Assert.Equal(["t.yaml:5: image: missing; set image (such as nginx:1.27) to run a container, or command (such as [\"python3\", \"-m\", \"http.server\"]) to run a host process"],
            result.Errors.Select(e => e.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing here\n")]
    [InlineData("---\n---\n")]
    public void An_empty_file_is_an_error(string yaml)
    {
        Assert.Equal(["t.yaml:1: the file has no documents; write at least kind: Service, name: web and image: nginx:1.27"], Errors(yaml));
    }

    [Fact]
    public void A_yaml_syntax_error_is_one_error_with_its_line()
    {
        var errors = Errors("kind: Service\nname: web\ncommand: [\"sh\", \"-c\"\nimage: x\n");

        var error = Assert.Single(errors);
        Assert.StartsWith("t.yaml:3: not valid YAML", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parsing_is_pure_and_repeatable()
    {
        var yaml = File.ReadAllText(Path.Combine(RepoPaths.GoodSpecs, "everything.yaml"));

        var first = SpecParser.Parse(yaml, "a.yaml");
        var second = SpecParser.Parse(yaml, "a.yaml");

        Assert.Equal(first.Documents.Select(d => d.Service), second.Documents.Select(d => d.Service));
    }

    [Theory]
    [InlineData("replicas: 1e3", "t.yaml:4: replicas: \"1e3\" is not a whole number; write a count such as 3")]
    [InlineData("replicas: 0x10", "t.yaml:4: replicas: \"0x10\" is not a whole number; write a count such as 3")]
    [InlineData("replicas: 2.0", "t.yaml:4: replicas: \"2.0\" is not a whole number; write a count such as 3")]
    [InlineData("replicas: 99999999999999999999", "t.yaml:4: replicas: 99999999999999999999 is more than 1000000; write a count such as 3")]
    [InlineData("replicas: -99999999999999999999", "t.yaml:4: replicas: -99999999999999999999 is negative; write 0 or more")]
    public void Counts_are_plain_whole_numbers(string line, string error)
    {
        Assert.Equal([error], Errors("kind: Service\nname: web\nimage: x\n" + line + "\n"));
    }

    [Fact]
    public void An_empty_name_is_reported_as_empty()
    {
        Assert.Equal(["t.yaml:2: name: is empty; give the job a name such as report"], Errors("kind: Job\nname: \"\"\ncommand: [\"true\"]\n"));
    }

    [Fact]
    public void Quoted_numbers_are_read_like_numbers()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: x\nreplicas: \"3\"\nports: [{ port: \"80\" }]\n");

        Assert.Equal(3, doc.Service!.Replicas);
        Assert.Equal(80, doc.Service.Template.Ports[0].Port);
    }

    [Fact]
    public void Null_fields_take_their_defaults()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: x\nreplicas:\nresources: ~\nhealth: { readiness: null }\nupdate:\n");

        Assert.Equal(1, doc.Service!.Replicas);
        Assert.Equal(100, doc.Service.Template.Resources.CpuMillis);
        Assert.Null(doc.Service.Template.Health.Readiness);
        Assert.Equal(1, doc.Service.Update.MaxSurge.Value);
    }

    [Fact]
    public void A_docker_command_and_args_are_kept_as_overrides()
    {
        var doc = ParseOne("kind: Service\nname: web\nimage: nginx\ncommand: [nginx]\nargs: [-g, daemon off;]\n");

        Assert.Equal(Driver.Docker, doc.Service!.Template.Driver);
        Assert.Equal(["nginx"], doc.Service.Template.Command);
        Assert.Equal(["-g", "daemon off;"], doc.Service.Template.Args);
    }

    [Fact]
    public void Ports_of_a_job_may_be_declared_without_publishing()
    {
        var doc = ParseOne("kind: Job\nname: bench\nimage: x\nports: [{ name: debug, port: 5005, protocol: tcp }]\n");

        Assert.Equal(new PortSpec { Name = "debug", Port = 5005, Protocol = Protocol.Tcp }, Assert.Single(doc.Job!.Template.Ports));
    }

    [Fact]
    public void Merge_keys_are_reported_as_unsupported()
    {
        Assert.Contains("t.yaml:4: <<: YAML merge keys are not supported; write the fields out in each document",
            Errors("x: &b { image: x }\nkind: Service\nname: web\n<<: *b\n"));
    }

    [Fact]
    public void Env_is_stored_in_name_order_so_reordering_it_changes_nothing()
    {
        var a = ParseOne("kind: Service\nname: web\nimage: x\nenv: { B: 2, A: 1, C: 3 }\n");
        var b = ParseOne("kind: Service\nname: web\nimage: x\nenv: { C: 3, A: 1, B: 2 }\n");

        Assert.Equal(["A", "B", "C"], a.Service!.Template.Env.Keys);
        Assert.Equal(a.Service.Template.ToByteArray(), b.Service!.Template.ToByteArray());
    }
}
