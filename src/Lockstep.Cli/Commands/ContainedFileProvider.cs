using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace Lockstep.Cli.Commands;

/// <summary>
/// A <see cref="PhysicalFileProvider"/> that serves nothing reached through a symbolic link below its
/// root: a link in the folder (to a file or a folder, wherever it points) would let the static files
/// middleware serve what lies outside it. The root itself may be reached through links.
/// </summary>
internal sealed class ContainedFileProvider(string root) : IFileProvider, IDisposable
{
    private readonly PhysicalFileProvider _files = new(root);
    private readonly string _root = Path.GetFullPath(root);

    public IFileInfo GetFileInfo(string subpath) =>
        ThroughLink(subpath) ? new NotFoundFileInfo(subpath) : _files.GetFileInfo(subpath);

    public IDirectoryContents GetDirectoryContents(string subpath) =>
        ThroughLink(subpath) ? NotFoundDirectoryContents.Singleton : _files.GetDirectoryContents(subpath);

    public IChangeToken Watch(string filter) => _files.Watch(filter);

    public void Dispose() => _files.Dispose();

    /// <summary>Whether any segment of <paramref name="subpath"/> below the root is a symbolic link.</summary>
    private bool ThroughLink(string subpath)
    {
        var path = _root;
        foreach (var segment in subpath.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries))
        {
            path = Path.Combine(path, segment);
            var entry = Directory.Exists(path) ? (FileSystemInfo)new DirectoryInfo(path) : new FileInfo(path);
            if (!entry.Exists && entry.LinkTarget is null)
            {
                return false; // nothing there: the provider answers "not found" itself
            }
            if (entry.LinkTarget is not null)
            {
                return true;
            }
        }
        return false;
    }
}
