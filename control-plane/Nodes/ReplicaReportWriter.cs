using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>What became of one agent report.</summary>
public enum ReportOutcome
{
    /// <summary>The replica's status now holds the report.</summary>
    Written,

    /// <summary>The status already said exactly this; nothing was written.</summary>
    Unchanged,

    /// <summary>The report is for an older generation than the replica's spec (fencing); ignored.</summary>
    Stale,

    /// <summary>No such replica, it is bound to another node, or it was marked Lost: the agent must stop it.</summary>
    NotAssigned,

    /// <summary>Other writers kept changing the replica; nothing was written (the agent reports again on its next change or reconnect).</summary>
    Conflict,
}

/// <summary>
/// Writes an agent's report into <c>/orc/status/replicas/&lt;id&gt;</c>: the agent-observed
/// fields replace the stored ones, control-plane-owned fields (the scheduler's
/// <c>placement</c> explanation) are kept. The write is guarded on the replica's spec key as
/// well, so a replica moved to another node between the read and the write is not touched.
/// </summary>
/// Each change written is also recorded as events (<see cref="ReplicaTransitions"/>) when an
/// <see cref="EventRecorder"/> is given.
public sealed class ReplicaReportWriter(IStateStore store, EventRecorder? events = null)
{
    public const int MaxAttempts = 5;

    public async Task<ReportOutcome> ApplyAsync(string node, ReplicaReport report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        var specKey = StoreKeys.Replica(report.ReplicaId);
        var statusKey = StoreKeys.ReplicaStatus(report.ReplicaId);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var spec = await store.GetAsync(specKey, 0, cancellationToken);
            if (spec.Kv is null)
            {
                return ReportOutcome.NotAssigned;
            }

            var replica = ProtoJson.Decode<Replica>(spec.Kv.Value, specKey);
            if (replica.Spec?.Node != node)
            {
                return ReportOutcome.NotAssigned;
            }

            if (report.Generation < replica.Spec.Generation)
            {
                return ReportOutcome.Stale;
            }

            var current = await store.GetAsync(statusKey, spec.Revision, cancellationToken);
            var existing = current.Kv is null ? null : ProtoJson.Decode<ReplicaStatus>(current.Kv.Value, statusKey);
            if (existing?.Phase == Phase.Lost)
            {
                // The node was judged lost and the replica with it: it is no longer this node's (fencing).
                return ReportOutcome.NotAssigned;
            }

            var merged = Merge(existing, report);
            if (merged.Equals(existing))
            {
                return ReportOutcome.Unchanged;
            }

            var result = await store.TxnAsync(
                new Txn(
                    [Compare.ModRevision(specKey, spec.Kv.ModRevision), Compare.ModRevision(statusKey, current.Kv?.ModRevision ?? 0)],
                    [TxnOp.Put(statusKey, ProtoJson.Encode(merged))],
                    []),
                cancellationToken);
            if (result.Succeeded)
            {
                if (events is not null)
                {
                    foreach (var e in ReplicaTransitions.For(node, existing, merged))
                    {
                        await events.RecordAsync("replica", report.ReplicaId, e.Type, e.Reason, e.Message, $"agent/{node}", cancellationToken);
                    }
                }

                return ReportOutcome.Written;
            }
        }

        return ReportOutcome.Conflict;
    }

    /// <summary>The stored status with every agent-observed field taken from the report.</summary>
    public static ReplicaStatus Merge(ReplicaStatus? existing, ReplicaReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var reported = report.Status ?? new ReplicaStatus();
        var merged = existing?.Clone() ?? new ReplicaStatus();
        merged.Phase = reported.Phase;
        merged.Reason = reported.Reason;
        merged.Message = reported.Message;
        merged.ExitCode = reported.ExitCode;
        merged.Restarts = reported.Restarts;
        merged.Endpoints.Clear();
        merged.Endpoints.Add(reported.Endpoints);
        merged.StartedAt = reported.StartedAt;
        merged.ReadyAt = reported.ReadyAt;
        merged.FinishedAt = reported.FinishedAt;
        merged.NextRetryAt = reported.NextRetryAt;
        merged.LastTransitionAt = reported.LastTransitionAt;
        merged.ObservedGeneration = report.Generation;
        return merged;
    }
}
