using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Lockstep.Benchmarks.WriteBenchmarks).Assembly).Run(args);
