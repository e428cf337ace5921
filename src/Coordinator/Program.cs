using DistRnn.Coordinator;

DistRnn.Util.Utf8Console.Use();
return await Cli.RunAsync(args);
