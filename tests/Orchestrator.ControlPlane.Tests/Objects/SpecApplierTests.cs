using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Objects;

public sealed class SpecApplierTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-applier");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
    private SqliteStateStore? _store;

    private SqliteStateStore Store => _store!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static SpecDocument Web(int replicas = 3, string image = "nginx:1.26") =>
        new(1, new ServiceSpec { Name = "web", Replicas = replicas, Template = new ReplicaTemplate { Driver = Driver.Docker, Image = image } }, null);

    private SpecApplier Applier(IStateStore store) => new(store, _time, NullLogger<SpecApplier>.Instance);

    private static SpecDocument ReportJob(int completions = 3, int parallelism = 2, string command = "exit 0") =>
        new(1, null, new JobSpec { Name = "report", Completions = completions, Parallelism = parallelism, BackoffLimit = 3, Template = new ReplicaTemplate { Driver = Driver.Process, Command = { "sh", "-c", command } } });

    [Fact]
    public async Task A_job_keeps_its_template_and_completions_and_an_apply_that_changes_them_says_how_to_replace_it()
    {
        await Applier(Store).ApplyAsync([ReportJob()], dryRun: false, Ct);
        var before = (await Store.GetAsync(StoreKeys.Job("report"), cancellationToken: Ct)).Kv!.ModRevision;

        var error = await Assert.ThrowsAsync<InvalidObjectRequestException>(() => Applier(Store).ApplyAsync([ReportJob(completions: 5, command: "exit 1")], dryRun: false, Ct));

        Assert.StartsWith("job \"report\" cannot change its completions 3 -> 5, template: command", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("delete it first (orc delete job report) and apply again, or give the new job another name", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, (await Store.GetAsync(StoreKeys.Job("report"), cancellationToken: Ct)).Kv!.ModRevision);

        // Parallelism may change: the controller runs more or fewer at once from then on.
        var result = await Applier(Store).ApplyAsync([ReportJob(parallelism: 3)], dryRun: false, Ct);
        Assert.Equal((ApplyOutcome.Configured, 2L), (result.Results[0].Outcome, result.Results[0].Generation));
    }

    [Fact]
    public async Task A_created_service_is_stored_as_readable_json_with_its_first_revision()
    {
        var result = await Applier(Store).ApplyAsync([Web()], dryRun: false, Ct);

        var stored = (await Store.GetAsync(StoreKeys.Service("web"), cancellationToken: Ct)).Kv!;
        var json = System.Text.Encoding.UTF8.GetString(stored.Value);
        Assert.Contains("\"image\": \"nginx:1.26\"", json, StringComparison.Ordinal);
        Assert.Contains("\"createdAt\": \"2026-01-02T03:04:05Z\"", json, StringComparison.Ordinal);
        var revision = ProtoJson.Decode<ServiceRevision>((await Store.GetAsync(StoreKeys.ServiceRevision("web", 1), cancellationToken: Ct)).Kv!.Value, "rev");
        Assert.Equal(("created", 1L, TemplateHash.Compute(Web().Service!.Template)), (revision.Cause, revision.Generation, revision.TemplateHash));
        Assert.Equal(stored.ModRevision, result.Revision);
    }

    [Fact]
    public async Task A_write_that_lands_between_read_and_commit_makes_the_apply_decide_again_from_fresh_state()
    {
        await Applier(Store).ApplyAsync([Web(replicas: 3)], dryRun: false, Ct);
        var racing = new InterferingStore(Store, times: 1, async (inner, _) =>
        {
            var current = (await inner.GetAsync(StoreKeys.Service("web"))).Kv!;
            var service = ProtoJson.Decode<Service>(current.Value, current.Key);
            service.Spec.Replicas = 7;
            service.Meta.Generation++;
            await inner.TxnAsync(Txn.Unconditional(TxnOp.Put(current.Key, ProtoJson.Encode(service))));
        });

        var result = await Applier(racing).ApplyAsync([Web(replicas: 5)], dryRun: false, Ct);

        var applied = Assert.Single(result.Results);
        Assert.Equal((ApplyOutcome.Configured, 3L), (applied.Outcome, applied.Generation));
        Assert.Equal(["replicas 7 -> 5"], applied.Changes);
        Assert.Equal(2, racing.Transactions);
    }

    [Fact]
    public async Task An_apply_that_always_loses_the_race_fails_as_a_conflict_and_writes_nothing_of_its_own()
    {
        await Applier(Store).ApplyAsync([Web(replicas: 3)], dryRun: false, Ct);
        var racing = new InterferingStore(Store, times: int.MaxValue, async (inner, _) =>
        {
            var current = (await inner.GetAsync(StoreKeys.Service("web"))).Kv!;
            await inner.TxnAsync(Txn.Unconditional(TxnOp.Put(current.Key, current.Value)));
        });

        var error = await Assert.ThrowsAsync<ObjectConflictException>(() => Applier(racing).ApplyAsync([Web(replicas: 5)], dryRun: false, Ct));

        Assert.Contains("run the apply again", error.Message, StringComparison.Ordinal);
        Assert.Equal(SpecApplier.MaxAttempts, racing.Transactions);
        var stored = ProtoJson.Decode<Service>((await Store.GetAsync(StoreKeys.Service("web"), cancellationToken: Ct)).Kv!.Value, "web");
        Assert.Equal((3, 1L), (stored.Spec.Replicas, stored.Meta.Generation));
    }

    [Fact]
    public async Task Two_documents_for_one_object_are_rejected_before_anything_is_read()
    {
        var before = await Store.GetRevisionAsync(Ct);

        var error = await Assert.ThrowsAsync<InvalidObjectRequestException>(() => Applier(Store).ApplyAsync([Web(), Web(replicas: 4) with { Line = 9 }], dryRun: false, Ct));

        Assert.Contains("lines 1 and 9", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await Store.GetRevisionAsync(Ct));
        Assert.Null((await Store.GetAsync(StoreKeys.Service("web"), cancellationToken: Ct)).Kv);
    }
}
