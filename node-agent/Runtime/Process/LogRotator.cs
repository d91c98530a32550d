namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>
/// Size-based rotation of a log file that another process appends to (copy, then truncate, as
/// logrotate's <c>copytruncate</c>): the replica keeps writing to the same open file, which it
/// opened with O_APPEND, so its next write lands at the new, smaller end. Lines written between
/// the copy and the truncation are lost; that is the price of never having to signal the replica.
/// </summary>
internal static class LogRotator
{
    /// <summary>
    /// When <paramref name="path"/> is larger than <paramref name="maxBytes"/>, shifts
    /// <c>path.1</c> → <c>path.2</c> … (dropping the oldest beyond <paramref name="keep"/>), copies the
    /// file to <c>path.1</c> and truncates it. Returns whether it rotated.
    /// </summary>
    public static bool RotateIfLarger(string path, long maxBytes, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var info = new FileInfo(path);
        if (!info.Exists || info.Length <= maxBytes)
        {
            return false;
        }

        File.Delete($"{path}.{keep}");
        for (var i = keep - 1; i >= 1; i--)
        {
            var from = $"{path}.{i}";
            if (File.Exists(from))
            {
                File.Move(from, $"{path}.{i + 1}", overwrite: true);
            }
        }

        File.Copy(path, $"{path}.1", overwrite: true);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            stream.SetLength(0);
        }

        return true;
    }
}
