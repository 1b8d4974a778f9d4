using System.Diagnostics;

namespace Lockstep.Client.Tests;

/// <summary>Runs programs this repository builds (the crash tool, the samples) as separate processes.</summary>
internal static class Processes
{
    public static string RepositoryRoot
    {
        get
        {
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
            {
                root = root.Parent;
            }
            return root?.FullName ?? throw new DirectoryNotFoundException("Lockstep.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Starts <c>dotnet &lt;dll&gt; args</c> for a project built with the same configuration as these tests.</summary>
    public static Process Start(string projectDirectory, string assemblyName, params string[] args)
    {
        // tests/Lockstep.Client.Tests/bin/<Configuration>/net10.0 → <project>/bin/<Configuration>/net10.0/<assembly>.dll
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
        var path = Path.Combine(RepositoryRoot, projectDirectory, "bin", baseDir.Parent!.Name, baseDir.Name, assemblyName + ".dll");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Build {projectDirectory} first.", path);
        }
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(path);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }
}
