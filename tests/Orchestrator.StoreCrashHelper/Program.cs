using System.Globalization;
using System.Text;
using Orchestrator.ControlPlane.Store;

// Usage: Orchestrator.StoreCrashHelper <state.db>
// Each iteration writes two keys in one transaction, then prints "<i> <revision>" once the
// store has acknowledged it. The caller kills this process at an arbitrary point and checks
// that every printed write survived and that no transaction survived half-written.
if (args.Length != 1)
{
    await Console.Error.WriteLineAsync("usage: Orchestrator.StoreCrashHelper <path/to/state.db>");
    return 2;
}

await using var store = await SqliteStateStore.OpenAsync(args[0]);
var stdout = Console.Out;
await stdout.WriteLineAsync("ready");
await stdout.FlushAsync();
for (long i = 0; ; i++)
{
    var n = i.ToString("D8", CultureInfo.InvariantCulture);
    var value = Encoding.UTF8.GetBytes(n);
    var result = await store.TxnAsync(Txn.Unconditional(TxnOp.Put("/crash/a/" + n, value), TxnOp.Put("/crash/b/" + n, value)));
    await stdout.WriteLineAsync($"{n} {result.Revision.ToString(CultureInfo.InvariantCulture)}");
    await stdout.FlushAsync();
}
