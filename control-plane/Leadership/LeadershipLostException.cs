using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Leadership;

/// <summary>
/// A fenced write was refused because this control plane does not (or no longer) hold the
/// leader key of the term the write belongs to. Nothing was written; the term has ended and
/// the leader-only work stops. It is a <see cref="StateStoreException"/>, so loops that outlive
/// store failures treat it as one until their term's token stops them.
/// </summary>
public sealed class LeadershipLostException(string message) : StateStoreException(message);
