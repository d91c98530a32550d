using FsCheck.Xunit;
using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Tests.Specs;

public class QuantityTests
{
    [Theory]
    [InlineData("250m", 250)]
    [InlineData("0.5", 500)]
    [InlineData(".5", 500)]
    [InlineData("1", 1000)]
    [InlineData("1.5", 1500)]
    [InlineData("2", 2000)]
    [InlineData("1e1", 10_000)]
    [InlineData(" 100m ", 100)]
    public void Cpu_is_read_in_cores_or_millicores(string text, long millis)
    {
        Assert.Equal(millis, Quantity.ParseCpu(text));
    }

    [Theory]
    [InlineData("128Mi", 134_217_728)]
    [InlineData("1Gi", 1_073_741_824)]
    [InlineData("0.5Gi", 536_870_912)]
    [InlineData("1.5Ki", 1536)]
    [InlineData("512M", 512_000_000)]
    [InlineData("1e9", 1_000_000_000)]
    [InlineData("1k", 1000)]
    [InlineData("100", 100)]
    [InlineData("1.0001k", 1001)]
    public void Memory_is_read_with_binary_and_decimal_suffixes_rounding_fractions_of_a_byte_up(string text, long bytes)
    {
        Assert.Equal(bytes, Quantity.ParseMemory(text));
    }

    [Theory]
    [InlineData("1.5 cpu", "\"1.5 cpu\" is not a quantity; did you mean 1.5?")]
    [InlineData("2cores", "\"2cores\" is not a quantity; did you mean 2?")]
    [InlineData("500mc", "\"500mc\" is not a quantity; did you mean 500m?")]
    [InlineData("250 m", "\"250 m\" is not a quantity; did you mean 250m?")]
    [InlineData("fast", "\"fast\" is not a quantity; write cores such as 0.5 or 2, or millicores such as 250m")]
    [InlineData("-1", "-1 is negative; write a cpu such as 250m")]
    [InlineData("0.5m", "0.5m is finer than 1m; cpu is counted in whole millicores")]
    public void Cpu_mistakes_are_explained_with_the_likely_intent(string text, string message)
    {
        Assert.False(Quantity.TryParseCpu(text, out _, out var error));
        Assert.Equal(message, error);
        Assert.Equal(message, Assert.Throws<FormatException>(() => Quantity.ParseCpu(text)).Message);
    }

    [Theory]
    [InlineData("128MB", "\"128MB\" is not a quantity; did you mean 128Mi?")]
    [InlineData("128mb", "\"128mb\" is not a quantity; did you mean 128Mi?")]
    [InlineData("1GB", "\"1GB\" is not a quantity; did you mean 1Gi?")]
    [InlineData("1g", "\"1g\" is not a quantity; did you mean 1Gi?")]
    [InlineData("256MiB", "\"256MiB\" is not a quantity; did you mean 256Mi?")]
    [InlineData("64 Mi", "\"64 Mi\" is not a quantity; did you mean 64Mi?")]
    [InlineData("2K", "\"2K\" is not a quantity; did you mean 2Ki?")]
    [InlineData("100 bytes", "\"100 bytes\" is not a quantity; did you mean 100?")]
    [InlineData("128m", "\"128m\" means thousandths of a byte (m is milli); did you mean 128Mi?")]
    [InlineData("-1Gi", "-1Gi is negative; write memory such as 128Mi")]
    [InlineData("99999999Ei", "99999999Ei is too large; write memory such as 128Mi or 1Gi")]
    [InlineData("plenty", "\"plenty\" is not a quantity; write memory such as 128Mi, 1Gi or 512M")]
    public void Memory_mistakes_are_explained_with_the_likely_intent(string text, string message)
    {
        Assert.False(Quantity.TryParseMemory(text, out _, out var error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData(250, "250m")]
    [InlineData(1000, "1")]
    [InlineData(1500, "1500m")]
    [InlineData(0, "0")]
    public void Cpu_is_formatted_as_whole_cores_or_millicores(long millis, string text)
    {
        Assert.Equal(text, Quantity.FormatCpu(millis));
    }

    [Theory]
    [InlineData(134_217_728, "128Mi")]
    [InlineData(1_073_741_824, "1Gi")]
    [InlineData(512_000_000, "512M")]
    [InlineData(1_000_000_000, "1G")]
    [InlineData(1536, "1536")]
    [InlineData(3 * 1024, "3Ki")]
    [InlineData(0, "0")]
    public void Memory_is_formatted_exactly_in_its_shortest_form(long bytes, string text)
    {
        Assert.Equal(text, Quantity.FormatMemory(bytes));
    }

    [Property(MaxTest = 500)]
    public bool Formatted_memory_parses_back_to_the_same_bytes(long bytes) =>
        Quantity.ParseMemory(Quantity.FormatMemory(Math.Abs(bytes % (1L << 62)))) == Math.Abs(bytes % (1L << 62));

    [Property(MaxTest = 500)]
    public bool Formatted_cpu_parses_back_to_the_same_millicores(int millis) =>
        Quantity.ParseCpu(Quantity.FormatCpu(Math.Abs((long)millis))) == Math.Abs((long)millis);
}
