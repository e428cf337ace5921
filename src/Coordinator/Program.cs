using DistRnn.Coordinator;

return await Cli.RunAsync(args);
