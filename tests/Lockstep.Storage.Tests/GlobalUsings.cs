global using Lockstep.Core;
