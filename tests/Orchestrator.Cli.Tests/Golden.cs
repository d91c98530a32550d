using System.Runtime.CompilerServices;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// Compares output with a file under <c>tests/testassets/cli/</c>. Set <c>ORC_UPDATE_GOLDEN=1</c> to
/// rewrite the files from the current output, then review the diff before committing.
/// </summary>
public static class Golden
{
    public static void Assert(string name, string actual, [CallerFilePath] string callerPath = "")
    {
        var sourceFile = Path.Combine(Path.GetDirectoryName(callerPath)!, "..", "testassets", "cli", name);
        if (Environment.GetEnvironmentVariable("ORC_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(sourceFile, actual);
            return;
        }

        var copied = Path.Combine(AppContext.BaseDirectory, "testassets", "cli", name);
        var path = File.Exists(copied) ? copied : sourceFile;
        Xunit.Assert.True(File.Exists(path), $"golden file {name} is missing; run the tests with ORC_UPDATE_GOLDEN=1 to create it");
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        Xunit.Assert.Equal(expected, actual.ReplaceLineEndings("\n"));
    }
}
