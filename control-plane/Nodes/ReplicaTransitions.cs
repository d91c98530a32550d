using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>An event to record for a change an agent reported.</summary>
public sealed record ReplicaTransitionEvent(EventType Type, string Reason, string Message);

/// <summary>
/// Turns a replica's status before and after an agent report into events in plain words, so
/// starts, readiness, crashes, back-offs and restarts are visible in <c>orc get events</c>.
/// Pure: tests call it directly.
/// </summary>
public static class ReplicaTransitions
{
    public static IReadOnlyList<ReplicaTransitionEvent> For(string node, ReplicaStatus? before, ReplicaStatus after)
    {
        ArgumentNullException.ThrowIfNull(after);
        var events = new List<ReplicaTransitionEvent>();
        var oldPhase = before?.Phase ?? Phase.Unspecified;
        var oldRestarts = before?.Restarts ?? 0;
        if (after.Restarts > oldRestarts)
        {
            var why = string.IsNullOrEmpty(after.Reason) ? "Restarted" : after.Reason;
            var reason = why is "Unhealthy" or "OOMKilled" ? why : "Restarted";
            events.Add(new(EventType.Warning, reason, string.Create(
                CultureInfo.InvariantCulture,
                $"restarted on {node} (restart {after.Restarts}){Detail(after.Message)}")));
        }

        if (after.Phase == oldPhase && after.Reason == (before?.Reason ?? ""))
        {
            return events;
        }

        switch (after.Phase)
        {
            case Phase.Running when after.Reason == "NotReady" && oldPhase == Phase.Ready:
                events.Add(new(EventType.Warning, "NotReady", $"not ready on {node}{Detail(after.Message)}"));
                break;
            case Phase.Running when oldPhase is Phase.Starting or Phase.Unspecified or Phase.Scheduled or Phase.Pending:
                events.Add(new(EventType.Normal, "Started", $"started on {node}"));
                break;
            case Phase.Ready:
                var endpoints = string.Join(", ", after.Endpoints.OrderBy(e => e.Key, StringComparer.Ordinal)
                    .Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Key}={e.Value.Address}:{e.Value.Port}")));
                events.Add(new(EventType.Normal, "Ready", $"ready on {node}" + (endpoints.Length > 0 ? $" at {endpoints}" : "")));
                break;
            case Phase.Failed:
                events.Add(new(EventType.Warning, string.IsNullOrEmpty(after.Reason) ? "Failed" : after.Reason, $"failed on {node}{Detail(after.Message)}"));
                break;
            case Phase.Succeeded:
                events.Add(new(EventType.Normal, string.IsNullOrEmpty(after.Reason) ? "Completed" : after.Reason, $"ended on {node}{Detail(after.Message)}"));
                break;
            case Phase.Draining:
                events.Add(new(EventType.Normal, "Draining", $"draining on {node}: out of traffic, waiting to be stopped"));
                break;
            default:
                break;
        }

        return events;
    }

    private static string Detail(string message) => string.IsNullOrEmpty(message) ? "" : ": " + message;
}
