using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.Bootstrap;
using DistRnn.Worker.Node;

DistRnn.Util.Utf8Console.Use();
return await DistRnn.Worker.WorkerCli.RunAsync(args);

namespace DistRnn.Worker
{
    /// <summary>
    /// The worker node: `distrnn-worker --join HOST:PORT [--corpus FILE] [--threads N]`.
    /// Exit codes: 0 the run ended (or stopped with Ctrl+C / SIGTERM), 2 bad input or refused by the coordinator,
    /// 1 gave up (--give-up-after) or failed. Everything, the --config expansion included, runs inside one try:
    /// bad input is one line on stderr, never a stack trace.
    /// </summary>
    public static class WorkerCli
    {
        public static async Task<int> RunAsync(string[] args)
        {
            var join = new Option<string?>("--join") { Description = "The coordinator's HOST:PORT (its train --listen address); with standby coordinators, theirs after it: A:PORT,B:PORT (docs/failover.md); or find the cluster with --discovery" };
            var discoveryOpt = new Option<string?>(ClusterDiscovery.DiscoveryOption) { Description = "Find the cluster through Akka.Management's Cluster Bootstrap instead of --join: config (with --contact-points) or kubernetes (the pods of the run)" };
            var contactOpt = new Option<string?>(ClusterDiscovery.ContactPointsOption) { Description = "With --discovery config: every node's management HOST:PORT, comma-separated (this node's --management among them)" };
            var managementOpt = new Option<string?>(ClusterDiscovery.ManagementOption) { Description = "HOST:PORT of this node's Akka.Management endpoint (bootstrap, /alive, /ready) with --discovery (default: --host:8558)" };
            var corpusOpt = new Option<string?>("--corpus") { Description = "The run's corpus file (default: the embedded tiny-shakespeare); must be the coordinator's file, byte for byte" };
            var threadsOpt = new Option<int>("--threads") { Description = "Cores this node computes on (0 = all)", DefaultValueFactory = _ => 0 };
            var hostOpt = new Option<string?>("--host") { Description = "Address of this node that the coordinator can reach (default: the local address that routes to the coordinator)" };
            var portOpt = new Option<int>("--port") { Description = "Port this node listens on (0 = any free port)", DefaultValueFactory = _ => 0 };
            var giveUpOpt = new Option<int>("--give-up-after") { Description = "Seconds without a coordinator after which to give up with exit code 1 (0 = keep retrying)", DefaultValueFactory = _ => 0 };
            var secretOpt = new Option<string?>("--secret-file") { Description = "The run's shared secret (the coordinator's --secret-file): proven at registration, never sent" };
            var tlsCertOpt = new Option<string?>("--tls-cert") { Description = "This node's certificate with its key (.pfx; password from DISTRNN_TLS_PASSWORD): mutual TLS, as the coordinator (needs --tls-ca)" };
            var tlsCaOpt = new Option<string?>("--tls-ca") { Description = "The CA (PEM or DER) that the coordinator's and other nodes' certificates must chain to" };
            var insecureOpt = new Option<bool>(NodeSecurity.InsecureOption) { Description = "Allow joining over a network (a --join or --host beyond loopback) without --secret-file or --tls-cert" };
            var metricsOpt = Diagnostics.MetricsEndpoint.NewOption();
            var verboseOpt = new Option<bool>("--verbose") { Description = "Show Akka's logs and stack traces of failures" };
            // Hidden test knob: a straggler on demand (each piece takes this many times its compute time; bits unchanged).
            var slowdownOpt = new Option<double>("--slowdown") { Hidden = true, DefaultValueFactory = _ => 1 };

            var root = new RootCommand("DistRnn worker node: joins a coordinator's cluster and computes gradients until the run ends.")
            {
                join, discoveryOpt, contactOpt, managementOpt, corpusOpt, threadsOpt, hostOpt, portOpt, giveUpOpt, secretOpt, tlsCertOpt, tlsCaOpt, insecureOpt, metricsOpt, verboseOpt, slowdownOpt,
            };

            // --config FILE (keys = option names without dashes, the command line overrides) and the help placeholders:
            // the same code as distrnn's, linked from src/Coordinator/Commands.
            root.Options.Add(ConfigFile.Option);
            HelpNames.Apply(root);
            bool help = args.Contains("--help") || args.Contains("-h");
            bool verbose = args.Contains("--verbose");
            ConfigFile.Expansion? config = null;
            try
            {
                config = help ? null : ConfigFile.Expand(root, args);
                var parse = root.Parse(config?.Args ?? args);
                if (help) return await parse.InvokeAsync();
                if (parse.Errors.Count > 0)
                {
                    Console.Error.WriteLine($"error: {OneLine(config?.Attribute(parse.Errors[0]) ?? parse.Errors[0].Message)}");
                    return 2;
                }
                verbose = parse.GetValue(verboseOpt);

                string? joinGiven = parse.GetValue(join), discoveryGiven = parse.GetValue(discoveryOpt);
                if ((joinGiven is null) == (discoveryGiven is null))
                    throw new InputException(joinGiven is null ? "--join HOST:PORT (the coordinator's --listen) or --discovery config|kubernetes is required"
                        : "--join and --discovery: give one of them (the coordinator's address, or how to find the cluster)");
                var joins = joinGiven is null ? [] : joinGiven.Split(',').Select(j => AkkaConfig.ParseEndpoint(j.Trim(), "--join")).ToList();
                var (host, port) = joins.Count == 0 ? (null, 0) : joins[0];
                int threads = parse.GetValue(threadsOpt);
                if (threads < 0) throw new InputException($"--threads {threads}: must not be negative");
                int ownPort = parse.GetValue(portOpt);
                if (ownPort is < 0 or > 65535) throw new InputException($"--port {ownPort}: must be from 0 to 65535");
                int giveUp = parse.GetValue(giveUpOpt);
                double slowdown = parse.GetValue(slowdownOpt);
                if (!(slowdown >= 1 && slowdown <= 1000)) throw new InputException($"--slowdown {slowdown}: must be from 1 to 1000");
                if (giveUp < 0) throw new InputException($"--give-up-after {giveUp}: must not be negative");
                DistRnn.Transport.DataChannel.DataChannelSwitch.Read(); // an odd DISTRNN_DATA_CHANNEL is bad input here too
                if (parse.GetValue(hostOpt) is string h && (h.Length == 0 || h.Any(char.IsControl) || h.Contains(' ')))
                    throw new InputException($"--host {Vocabulary.Escape(h)}: must be a host name or address");
                var security = NodeSecurity.FromOptions(parse.GetValue(secretOpt), parse.GetValue(tlsCertOpt), parse.GetValue(tlsCaOpt), w => Console.Error.WriteLine(w));
                var corpus = Corpus.Load(parse.GetValue(corpusOpt));
                string? towards = host ?? (parse.GetValue(contactOpt) is string points ? AkkaConfig.ParseEndpoint(points.Split(',')[0].Trim(), ClusterDiscovery.ContactPointsOption).Host : null);
                string ownHost = parse.GetValue(hostOpt) ?? (towards is not null ? LocalAddressTowards(towards)
                    : throw new InputException($"{ClusterDiscovery.DiscoveryOption} {discoveryGiven}: pass --host with this node's address (in Kubernetes, the pod's IP)"));
                var discovery = ClusterDiscovery.FromOptions(discoveryGiven, parse.GetValue(contactOpt), parse.GetValue(managementOpt), ownHost);
                security.CheckExposure(ownHost, parse.GetValue(hostOpt) is null ? $"{(host is null ? ClusterDiscovery.ContactPointsOption : "--join")} {towards}{(host is null ? "" : $":{port}")} (this node at {ownHost})" : $"--host {ownHost}", parse.GetValue(insecureOpt));

                using var metrics = parse.GetValue(metricsOpt) is string metricsAt ? Metrics.WorkerMetrics.Serve(metricsAt) : null;
                if (metrics is not null) Console.Error.WriteLine($"worker: {metrics.Describe()}");
                using var stop = new CancellationTokenSource();
                void OnSignal(PosixSignalContext c) { c.Cancel = true; Console.Error.WriteLine("stopping: leaving the cluster"); stop.Cancel(); }
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

                Console.Error.WriteLine($"worker: corpus {corpus.Name} (sha256 {corpus.Sha256[..12]}…), {(threads > 0 ? threads : Environment.ProcessorCount)} threads, {(host is null ? $"finding the cluster through {discoveryGiven} discovery" : $"joining {string.Join(",", joins.Select(j => $"{j.Host}:{j.Port}"))}")} from {ownHost}; {security.Describe()}");
                return await WorkerNode.RunAsync(new WorkerNodeOptions
                {
                    Coordinator = host is null ? null : AkkaConfig.CoordinatorAddress(host, port, security.Scheme),
                    Standbys = joins.Skip(1).Select(j => AkkaConfig.CoordinatorAddress(j.Host, j.Port, security.Scheme)).ToList(),
                    Discovery = discovery,
                    Security = security,
                    Corpus = corpus,
                    Threads = threads > 0 ? threads : Environment.ProcessorCount,
                    Host = ownHost,
                    Port = ownPort,
                    Verbose = verbose,
                    Slowdown = slowdown,
                    GiveUpAfter = giveUp > 0 ? TimeSpan.FromSeconds(giveUp) : null,
                    Log = m => Console.Error.WriteLine($"worker: {m}"),
                    Metrics = metrics,
                }, stop.Token);
            }
            catch (InputException e)
            {
                Console.Error.WriteLine($"error: {OneLine(config?.Attribute(e.Message) ?? e.Message)}");
                return 2;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: {OneLine(e.Message)}");
                if (verbose) Console.Error.WriteLine(e);
                return 1;
            }
        }

        private static string OneLine(string s) => s.Replace("\r", " ").Replace("\n", " ");

        /// <summary>The local address the OS would use to reach the coordinator (no packet is sent: UDP connect only picks a route).</summary>
        private static string LocalAddressTowards(string host)
        {
            try
            {
                var target = Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                    ?? throw new InputException($"--join {host}: cannot resolve the host");
                if (IPAddress.IsLoopback(target)) return "127.0.0.1";
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                probe.Connect(target, 9);
                return ((IPEndPoint)probe.LocalEndPoint!).Address.ToString();
            }
            catch (SocketException e)
            {
                throw new InputException($"--join {host}: cannot find a route to the host ({e.Message}); pass --host with this node's address");
            }
        }
    }
}
