using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>
/// Builds random valid specs from a seed, with every field set and text chosen to stress YAML quoting,
/// for round-trip properties of <see cref="SpecWriter"/> and <see cref="SpecParser"/>.
/// </summary>
internal sealed class SpecGenerator(int seed)
{
    private static readonly string[] TrickyText =
    [
        "python3", "-m", "${PORT}", "a: b", "null", "~", "", " leading space", "trailing ", "#not a comment", "it's",
        "\"quoted\"", "[x]", "{x}", "x, y", "*star", "&anchor", "!tag", "%percent", "@at", "`tick", "yes", "no", "true",
        "0x10", "1e3", "007", "-", "? q", "| pipe", "> fold", "é ü 漢字", "line\nbreak", "tab\there", "back\\slash", "--flag=1",
    ];

    private readonly Random _random = new(seed);

    public ServiceSpec Service() => new()
    {
        Name = Name(),
        Replicas = _random.Next(0, 50),
        Template = Template(isJob: false),
        Update = Update(),
        LoadBalancing = (LoadBalancing)_random.Next(1, 4),
    };

    public JobSpec Job() => new()
    {
        Name = Name(),
        Completions = _random.Next(1, 20),
        Parallelism = _random.Next(1, 5),
        BackoffLimit = _random.Next(0, 10),
        Template = Template(isJob: true),
    };

    private string Name()
    {
        const string chars = "abcdefghijklmnopqrstuvwxyz0123456789-";
        var length = _random.Next(1, 20);
        var name = new string(Enumerable.Range(0, length).Select(_ => chars[_random.Next(chars.Length)]).ToArray()).Trim('-');
        return name.Length == 0 ? "x" : "a" + name;
    }

    private string Text() => TrickyText[_random.Next(TrickyText.Length)];

    private Duration Millis(int min, int max) => Duration.FromTimeSpan(TimeSpan.FromMilliseconds(_random.Next(min, max)));

    private ReplicaTemplate Template(bool isJob)
    {
        var docker = _random.Next(2) == 0;
        var template = new ReplicaTemplate
        {
            Driver = docker ? Driver.Docker : Driver.Process,
            Image = docker ? "registry.example.com:5000/team/app-" + Name() + ":1." + _random.Next(10) : "",
            Resources = new Resources
            {
                CpuMillis = _random.Next(1, (int)SpecDefaults.MaxCpuMillis),
                MemoryBytes = _random.Next(2) == 0
                    ? _random.NextInt64(SpecDefaults.MinMemoryBytes, SpecDefaults.MaxMemoryBytes)
                    : _random.Next(4, 4096) * (1L << 20),
            },
            Restart = isJob ? (_random.Next(2) == 0 ? RestartPolicy.OnFailure : RestartPolicy.Never)
                : (RestartPolicy)_random.Next(1, 4),
            StopGracePeriod = Millis(0, 600_000),
            Health = new HealthSpec(),
            Placement = new Placement
            {
                Strategy = _random.Next(2) == 0 ? PlacementStrategy.Spread : PlacementStrategy.Binpack,
                MaxPerNode = _random.Next(0, 4),
                SpreadBy = _random.Next(2) == 0 ? "" : "topology.example.com/zone",
            },
        };

        var commandLength = docker ? _random.Next(0, 4) : _random.Next(1, 5);
        template.Command.AddRange(Enumerable.Range(0, commandLength).Select(_ => Text()));
        template.Args.AddRange(Enumerable.Range(0, _random.Next(0, 4)).Select(_ => Text()));
        for (var i = _random.Next(0, 5); i > 0; i--)
        {
            template.Env["VAR_" + i + "_" + _random.Next(100)] = Text();
        }

        var portCount = _random.Next(0, 4);
        for (var i = 0; i < portCount; i++)
        {
            template.Ports.Add(new PortSpec
            {
                Name = i == 0 ? "http" : "p" + i,
                Port = !docker && _random.Next(2) == 0 ? 0 : 1000 + (i * 10) + _random.Next(10),
                Published = isJob || _random.Next(2) == 0 ? 0 : 30000 + (i * 100) + _random.Next(100),
                Protocol = _random.Next(2) == 0 ? Protocol.Http : Protocol.Tcp,
            });
        }

        if (_random.Next(3) > 0)
        {
            template.Health.Readiness = Probe(template.Ports, liveness: false);
        }

        if (_random.Next(3) > 0)
        {
            template.Health.Liveness = Probe(template.Ports, liveness: true);
        }

        var constraints = new[]
        {
            new Constraint { Key = "zone", Operator = ConstraintOperator.Equal, Values = { "a" } },
            new Constraint { Key = "disk", Operator = ConstraintOperator.NotEqual, Values = { "hdd" } },
            new Constraint { Key = "example.com/region", Operator = ConstraintOperator.In, Values = { "eu-west", "us_east", "ap.south" } },
            new Constraint { Key = "tier", Operator = ConstraintOperator.NotIn, Values = { "db" } },
        };
        foreach (var constraint in constraints.Where(_ => _random.Next(2) == 0))
        {
            constraint.Text = ConstraintText.Format(constraint);
            template.Placement.Constraints.Add(constraint);
        }

        return template;
    }

    private Probe Probe(Google.Protobuf.Collections.RepeatedField<PortSpec> ports, bool liveness)
    {
        var interval = _random.Next(1, 120_000);
        var probe = new Probe
        {
            Interval = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(interval)),
            Timeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(_random.Next(1, interval + 1))),
            InitialDelay = Millis(0, 100_000),
            FailureThreshold = _random.Next(1, 10),
            SuccessThreshold = liveness ? 1 : _random.Next(1, 5),
        };
        var kind = ports.Count == 0 ? 2 : _random.Next(3);
        switch (kind)
        {
            case 0:
                probe.Http = "/" + Name() + "?q=" + _random.Next(100);
                probe.Port = ports[_random.Next(ports.Count)].Name;
                break;
            case 1:
                probe.Tcp = ports[_random.Next(ports.Count)].Name;
                break;
            default:
                probe.Exec = new ExecAction();
                probe.Exec.Command.AddRange(Enumerable.Range(0, _random.Next(1, 4)).Select(_ => Text()));
                break;
        }

        return probe;
    }

    private UpdateStrategy Update()
    {
        var surge = new IntOrPercent { Value = _random.Next(0, 101), Percent = _random.Next(2) == 0 };
        var unavailable = new IntOrPercent { Value = surge.Value == 0 ? _random.Next(1, 101) : _random.Next(0, 101), Percent = _random.Next(2) == 0 };
        var minReady = _random.Next(0, 60_000);
        return new UpdateStrategy
        {
            MaxSurge = surge,
            MaxUnavailable = unavailable,
            MinReady = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(minReady)),
            ProgressDeadline = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(minReady + _random.Next(1, 3_600_000))),
            OnFailure = _random.Next(2) == 0 ? OnFailure.Rollback : OnFailure.Pause,
        };
    }
}
