using DistRnn.Cli;

return await Cli.RunAsync(args);
