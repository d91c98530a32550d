using Orchestrator.V1;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// A big cluster's lists exceed gRPC's default 4 MB message limit (10,000 replicas with their
/// placement explanations do): the CLI must still read them.
/// </summary>
public sealed class LargeClusterTests
{
    [Fact]
    public async Task Get_replicas_reads_a_list_larger_than_four_megabytes()
    {
        await using var server = await FakeClusterServer.StartAsync();
        const int count = 3000;
        var note = new string('x', 2000);
        for (var i = 0; i < count; i++)
        {
            var replica = Running($"web-{i:D5}", "node-1", 20000 + (i % 1000));
            replica.Status.Message = note;
            server.Cluster.Objects[(ObjectKind.Replica, replica.Meta.Name)] = new V1.Object { Replica = replica };
        }

        var size = new ListResponse { Items = { server.Cluster.Objects.Values } }.CalculateSize();
        Assert.True(size > 4 * 1024 * 1024, $"the list is {size} bytes; it must exceed 4 MB for this test to mean anything");

        var result = await Orc.RunAsync(["get", "replicas", "--server", server.Address], time: new FixedTime(Now));

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(count + 1, result.StdoutLines.Length);
    }
}
