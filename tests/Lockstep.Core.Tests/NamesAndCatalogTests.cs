using System.Reflection;
using System.Text.RegularExpressions;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Core.Tests;

public sealed partial class NamesAndCatalogTests
{
    [Theory]
    [InlineData("tasks", true)]
    [InlineData("user_profiles-2", true)]
    [InlineData("a.b", true)]
    [InlineData(".hidden", false)]
    [InlineData("with space", false)]
    [InlineData("", false)]
    [InlineData("ünicode", false)]
    public void Collection_names_follow_the_rules(string name, bool valid) => Assert.Equal(valid, Names.IsValidCollection(name));

    [Theory]
    [InlineData("doc-1", true)]
    [InlineData("user@example.com", true)]
    [InlineData("ünïcode ok", true)]
    [InlineData("a/b", false)]
    [InlineData("tab\there", false)]
    [InlineData("", false)]
    public void Document_ids_follow_the_rules(string id, bool valid) => Assert.Equal(valid, Names.IsValidId(id));

    [Fact]
    public void Overlong_names_are_refused()
    {
        Assert.False(Names.IsValidCollection(new string('a', 65)));
        Assert.False(Names.IsValidId(new string('a', 257)));
        Assert.True(Names.IsValidId(new string('a', 256)));
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("a.b.c", true)]
    [InlineData("a..b", false)]
    [InlineData(".a", false)]
    [InlineData("", false)]
    public void Field_paths_follow_the_rules(string path, bool valid) => Assert.Equal(valid, Names.TrySplitPath(path, out _));

    [Fact]
    public void Error_codes_are_unique_snake_case_and_findable()
    {
        Assert.Equal(ErrorCodes.All.Count, ErrorCodes.All.Select(e => e.Code).Distinct().Count());
        foreach (var code in ErrorCodes.All)
        {
            Assert.Matches(SnakeCase(), code.Code);
            Assert.Same(code, ErrorCodes.Find(code.Code));
            Assert.InRange(code.HttpStatus, 400, 599);
        }
        Assert.Null(ErrorCodes.Find("no_such_code"));
    }

    [Fact]
    public void Every_error_code_is_documented_in_errors_md_and_nothing_else_is()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lockstep.slnx")))
        {
            dir = dir.Parent;
        }
        var doc = File.ReadAllText(Path.Combine(dir!.FullName, "docs", "errors.md"));
        var headings = Heading().Matches(doc).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Equal(ErrorCodes.All.Select(e => e.Code).Order(), headings.Order());
    }

    [Fact]
    public void Core_and_protocol_do_no_io()
    {
        string[] forbidden = ["System.Net", "Microsoft.AspNetCore", "Microsoft.Data", "Npgsql", "Microsoft.Extensions.Hosting"];
        foreach (var assembly in new[] { typeof(Names).Assembly, typeof(ErrorCodes).Assembly })
        {
            var references = assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
            Assert.DoesNotContain(references, r => forbidden.Any(f => r.StartsWith(f, StringComparison.Ordinal)));
        }
        // The BCL, and the MessagePack package for the binary encoding's reader and writer (docs/protocol.md §11).
        Assert.All(typeof(ErrorCodes).Assembly.GetReferencedAssemblies(), a => Assert.True(
            a.Name!.StartsWith("System", StringComparison.Ordinal) || a.Name is "netstandard" or "mscorlib" or "MessagePack",
            $"{a.Name} is neither part of the BCL nor the MessagePack package"));
        Assert.DoesNotContain(typeof(ErrorCodes).Assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("Lockstep", StringComparison.Ordinal));
        _ = Assembly.GetExecutingAssembly();
    }

    [GeneratedRegex("^[a-z]+(_[a-z]+)*$")]
    private static partial Regex SnakeCase();

    [GeneratedRegex("^## ([a-z_]+)\\s*$", RegexOptions.Multiline)]
    private static partial Regex Heading();
}
