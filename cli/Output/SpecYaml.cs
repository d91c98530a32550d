using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// <c>-o yaml</c>: services and jobs in the apply format (so the output can be edited and fed back to
/// <c>orc apply -f -</c>), a list of them as documents separated by <c>---</c>; other kinds as
/// YAML of their protobuf JSON.
/// </summary>
public static class SpecYaml
{
    public static string Format(V1.Object item) => item.KindCase switch
    {
        V1.Object.KindOneofCase.Service => ServiceYaml(item.Service.Spec ?? new ServiceSpec()),
        V1.Object.KindOneofCase.Job => JobYaml(item.Job.Spec ?? new JobSpec()),
        _ => YamlOutput.Format(JsonOutput.Inner(item)),
    };

    public static string FormatList(IReadOnlyList<V1.Object> items)
    {
        if (items.Count > 0 && items.All(i => i.KindCase is V1.Object.KindOneofCase.Service or V1.Object.KindOneofCase.Job))
        {
            return string.Join("---\n", items.Select(Format));
        }

        return YamlOutput.FormatList(items.Select(JsonOutput.Inner));
    }

    private static string ServiceYaml(ServiceSpec spec) => EndWithNewline(SpecWriter.ToYaml(spec));

    private static string JobYaml(JobSpec spec) => EndWithNewline(SpecWriter.ToYaml(spec));

    private static string EndWithNewline(string text) => text.EndsWith('\n') ? text : text + "\n";
}
