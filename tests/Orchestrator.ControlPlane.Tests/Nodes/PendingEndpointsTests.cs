using Orchestrator.ControlPlane.Nodes;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>
/// What a node stream is sent for endpoints changes: one change's delta, merged deltas, and that
/// the agent's table moved on by them equals the set the control plane holds.
/// </summary>
public sealed class PendingEndpointsTests
{
    private static ReplicaEndpoint At(string replica, int port, string address = "127.0.0.2") => new() { Replica = replica, Node = "node-1", Endpoint = new Endpoint { Address = address, Port = port } };

    private static ServiceEndpoints Set(long version, params ReplicaEndpoint[] endpoints)
    {
        var port = new PortEndpoints { Port = "http", Published = 8080, Protocol = Protocol.Http };
        port.Endpoints.AddRange(endpoints.Order(EndpointsDeltas.Order));
        return new ServiceEndpoints { Service = "web", Version = version, Ports = { port, new PortEndpoints { Port = "admin", Published = 9090 } } };
    }

    /// <summary>The change the feed computes when the stored set moves from <paramref name="before"/> to <paramref name="after"/>.</summary>
    private static EndpointsChange Change(ServiceEndpoints? before, ServiceEndpoints after) =>
        new(after.Service, after.Version, after, before is null ? null : EndpointsDeltas.Diff(before, after));

    [Fact]
    public void A_one_endpoint_change_is_sent_as_a_one_endpoint_delta()
    {
        var before = Set(10, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003));
        var after = Set(11, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003), At("web-d", 20004));
        var pending = new PendingEndpoints();

        pending.Offer(Change(before, after));
        var update = pending.Take()!;

        Assert.False(update.Full);
        Assert.Equal(11, update.Version);
        Assert.Empty(update.Services);
        var delta = Assert.Single(update.Deltas);
        Assert.Equal("web", delta.Service);
        Assert.Equal(11, delta.Version);
        var port = Assert.Single(delta.Ports);
        Assert.Equal("http", port.Port);
        Assert.Null(port.Metadata);
        Assert.Equal("web-d", Assert.Single(port.Upserted).Replica);
        Assert.Empty(port.Removed);
        Assert.True(pending.IsEmpty);
        Assert.Null(pending.Take());
    }

    [Fact]
    public void An_endpoint_added_then_removed_before_the_node_reads_is_never_sent()
    {
        var v10 = Set(10, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003));
        var v11 = Set(11, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003), At("web-d", 20004));
        var v12 = Set(12, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003));
        var pending = new PendingEndpoints();

        pending.Offer(Change(v10, v11));
        pending.Offer(Change(v11, v12));
        var delta = Assert.Single(pending.Take()!.Deltas);

        Assert.Equal(12, delta.Version);
        Assert.Empty(delta.Ports);
    }

    [Fact]
    public void An_endpoint_removed_then_added_back_is_an_upsert_and_one_changed_twice_keeps_its_last_value()
    {
        var v10 = Set(10, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003), At("web-e", 20005));
        var v11 = Set(11, At("web-b", 20002), At("web-c", 20003, "127.0.0.3"), At("web-e", 20005));
        var v12 = Set(12, At("web-a", 20009), At("web-b", 20002), At("web-c", 20003, "127.0.0.4"), At("web-e", 20005));
        var pending = new PendingEndpoints();

        pending.Offer(Change(v10, v11));
        pending.Offer(Change(v11, v12));
        var port = Assert.Single(Assert.Single(pending.Take()!.Deltas).Ports);

        Assert.Empty(port.Removed);
        Assert.Equal(["web-a:20009", "web-c:127.0.0.4"], port.Upserted.Select(e => e.Replica == "web-a" ? $"{e.Replica}:{e.Endpoint.Port}" : $"{e.Replica}:{e.Endpoint.Address}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_new_service_a_removal_and_a_change_of_ports_are_sent_whole_and_a_delta_after_a_whole_set_keeps_it_whole()
    {
        var pending = new PendingEndpoints();
        var v10 = Set(10, At("web-a", 20001));
        pending.Offer(Change(null, v10));
        var v11 = Set(11, At("web-a", 20001), At("web-b", 20002));
        pending.Offer(Change(v10, v11));

        var update = pending.Take()!;
        Assert.Same(v11, Assert.Single(update.Services));
        Assert.Empty(update.Deltas);

        var renamed = v11.Clone();
        renamed.Version = 12;
        renamed.Ports[1].Port = "metrics";
        pending.Offer(Change(v11, renamed));
        Assert.Same(renamed, Assert.Single(pending.Take()!.Services));

        pending.Offer(Change(renamed, Set(13, At("web-a", 20001))));
        pending.Offer(new EndpointsChange("web", 14, null, null));
        update = pending.Take()!;
        Assert.Equal(["web"], update.RemovedServices);
        Assert.Empty(update.Deltas);
        Assert.Equal(14, update.Version);
    }

    [Fact]
    public void A_composed_delta_as_large_as_the_set_is_sent_as_the_set()
    {
        var pending = new PendingEndpoints();
        var v10 = Set(10, At("web-a", 20001), At("web-b", 20002));
        var v11 = Set(11, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003));
        var v12 = Set(12, At("web-a", 20001), At("web-b", 20002), At("web-c", 20003), At("web-d", 20004));
        var v13 = Set(13, At("web-c", 20003), At("web-d", 20004));

        pending.Offer(Change(v10, v11));
        pending.Offer(Change(v11, v12));
        Assert.Single(pending.Take()!.Deltas);

        pending.Offer(Change(v10, v11));
        pending.Offer(Change(v11, v12));
        pending.Offer(Change(v12, v13));
        Assert.Same(v13, Assert.Single(pending.Take()!.Services));
    }

    [Fact]
    public void A_ports_changed_fields_travel_in_the_delta_with_every_field_but_the_endpoints()
    {
        var before = Set(10, At("web-a", 20001));
        var after = Set(11, At("web-a", 20001));
        after.Ports[0].Protocol = Protocol.Tcp;
        var pending = new PendingEndpoints();

        pending.Offer(Change(before, after));
        var port = Assert.Single(Assert.Single(pending.Take()!.Deltas).Ports);

        Assert.Equal(new PortEndpoints { Port = "http", Published = 8080, Protocol = Protocol.Tcp }, port.Metadata);
        Assert.Empty(port.Upserted);
    }

    [Fact]
    public void Merged_deltas_of_random_changes_move_the_agents_table_to_the_stored_set()
    {
        // Seeded: the same sequence every run. Each round makes a few random changes (add, remove,
        // move, change a port's fields), merges some of them before the node reads, and checks the
        // agent's table against the feed's set after every read.
        var random = new Random(20_261_124);
        var table = new EndpointsTable();
        var current = Set(1, At("web-0", 20000));
        table.Apply(new EndpointsUpdate { Version = 1, Full = true, Services = { current } });
        var pending = new PendingEndpoints();
        for (var version = 2; version < 400; version++)
        {
            var next = current.Clone();
            next.Version = version;
            next.ChangedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero).AddSeconds(version));
            var port = next.Ports[random.Next(2)];
            var endpoints = port.Endpoints.ToList();
            for (var n = random.Next(1, 4); n > 0; n--)
            {
                switch (random.Next(4))
                {
                    case 0 when endpoints.Count > 0:
                        endpoints.RemoveAt(random.Next(endpoints.Count));
                        break;
                    case 1 when endpoints.Count > 0:
                        var moved = endpoints[random.Next(endpoints.Count)];
                        endpoints.Remove(moved);
                        endpoints.Add(At(moved.Replica, 20000 + random.Next(50), $"127.0.0.{random.Next(2, 5)}"));
                        break;
                    case 2:
                        port.Published += 1;
                        break;
                    default:
                        var replica = $"web-{random.Next(30)}";
                        if (endpoints.All(e => e.Replica != replica))
                        {
                            endpoints.Add(At(replica, 20000 + random.Next(50), $"127.0.0.{random.Next(2, 5)}"));
                        }

                        break;
                }
            }

            port.Endpoints.Clear();
            port.Endpoints.AddRange(endpoints.Order(EndpointsDeltas.Order));
            pending.Offer(Change(current, next));
            current = next;
            if (random.Next(3) == 0)
            {
                Assert.True(table.Apply(pending.Take()!));
                Assert.Equal(current, table.Current.Services["web"]);
                Assert.Equal(version, table.Current.Version);
            }
        }
    }
}
