namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// The end-to-end tests run one after another. Each starts a whole cluster with its own ports and
/// data directory, so they could run side by side; they do not because every one of them runs
/// several .NET processes (replicas and the cluster), and on a small CI machine running them
/// together turns probe timeouts into failures that say nothing about the product.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public static class EndToEndCollection
{
    public const string Name = "end-to-end";
}
