using System.CommandLine;
using Lockstep.Cli.Commands;

var root = new RootCommand("Lockstep: a self-hosted real-time data synchronization engine. `lockstep serve` runs the server; the other commands talk to one.")
{
    ServeCommand.Create(),
    DocumentCommands.CreateGet(),
    DocumentCommands.CreatePut(),
    DocumentCommands.CreatePatch(),
    TailCommand.Create(),
    StatusCommand.Create(),
    BenchCommand.Create(),
    ApiKeyCommand.Create(),
    JobCommands.Create(),
};
return await root.Parse(args).InvokeAsync();
