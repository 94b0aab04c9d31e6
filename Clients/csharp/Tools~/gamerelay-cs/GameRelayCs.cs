using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;
using GameRelay;

/// <summary>
/// <c>gamerelay-cs ping HOST:PORT</c>: joins a session (a throwaway one, or <c>--code</c>'s),
/// binds, and sends one PING (and with <c>--code</c> one DATA) per interval, printing each
/// round-trip time and <c>gamerelay ping</c>'s summary.
/// </summary>
public static class GameRelayCs
{
    const string Usage =
        "usage: gamerelay-cs ping HOST:PORT [-c COUNT] [-i SECONDS] [--code CODE] [--name NAME] [--tls] [--pin CERT.der]\n" +
        "  -c COUNT      stop after COUNT replies or losses (default 5)\n" +
        "  -i SECONDS    seconds between PINGs (default 1)\n" +
        "  --code CODE   join this session and send a DATA per PING (default: a throwaway session)\n" +
        "  --tls         control channel inside TLS, certificate checked against the system's roots\n" +
        "  --pin FILE    inside TLS, accept exactly this certificate (DER or PEM), e.g. a self-signed relay\n";

    /// <summary>Parses the command line and runs the ping; exit status 0 when any PONG came back.</summary>
    public static int Main(string[] args)
    {
        if (args.Length < 2 || args[0] != "ping")
        {
            Console.Error.Write(Usage);
            return 2;
        }
        string target = args[1];
        int count = 5;
        double interval = 1;
        string code = null, name = "gamerelay-cs", pin = null;
        bool useTls = false;
        try
        {
            for (int i = 2; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "-c": count = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "-i": interval = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--code": code = args[++i]; break;
                    case "--name": name = args[++i]; break;
                    case "--tls": useTls = true; break;
                    case "--pin": pin = args[++i]; useTls = true; break;
                    default: throw new FormatException("unknown option " + args[i]);
                }
            }
            if (count < 1 || interval < 0.01) throw new FormatException("-c must be at least 1 and -i at least 0.01");
        }
        catch (Exception e)
        {
            if (!(e is FormatException || e is IndexOutOfRangeException || e is OverflowException)) throw;
            Console.Error.Write("gamerelay-cs: " + e.Message + "\n" + Usage);
            return 2;
        }
        int colon = target.LastIndexOf(':');
        int port;
        if (colon <= 0 || !int.TryParse(target.Substring(colon + 1), out port))
        {
            Console.Error.Write("gamerelay-cs: the relay must be HOST:PORT\n");
            return 2;
        }
        string host = target.Substring(0, colon);

        using (var client = new RelayClient())
        {
            if (useTls) client.Tls = RelayTlsMode.Required;
            if (pin != null) client.PinnedCertificate = new X509Certificate(pin);
            try
            {
                return Run(client, host, port, target, code, name, count, interval);
            }
            catch (RelayException e)
            {
                Console.Error.WriteLine("gamerelay-cs: error: " + e);
                return 2;
            }
        }
    }

    static T Wait<T>(RelayClient client, RelayOperation<T> operation)
    {
        while (!operation.IsDone)
        {
            client.Poll();
            Thread.Sleep(1);
        }
        return operation.Result;
    }

    static int Run(RelayClient client, string host, int port, string target, string code, string name, int count, double interval)
    {
        Wait(client, client.Connect(host, port));
        if (code == null)
        {
            var session = Wait(client, client.Create(2));
            Wait(client, client.JoinById(session.Session, name));
        }
        else
        {
            var membership = Wait(client, client.JoinByCode(code, name));
            Console.WriteLine("joined " + membership.Session + " as member " + membership.Member + " with " + membership.Members.Count + " other(s)");
        }
        Wait(client, client.Bind());
        Action<RelayEvent> printEvent = e => Console.WriteLine("event: " + e);
        client.EventReceived += printEvent;
        client.DataReceived += d => Console.WriteLine("DATA from member " + d.Sender + " seq=" + d.Sequence + ": " + Encoding.UTF8.GetString(d.Payload.Array, d.Payload.Offset, d.Payload.Count));
        // Arrival times are taken on the receive thread, so the frame pacing below adds nothing to the RTTs.
        client.StartReceiveThread();
        Console.WriteLine("PING " + target + " (gamerelay-cs" + (client.IsTls ? ", control over TLS" : "") + "): 24-byte datagrams");

        var outstanding = new Dictionary<uint, long>();
        var rtts = new List<double>();
        int sent = 0, finished = 0;
        client.PongReceived += (sequence, rtt) =>
        {
            if (!outstanding.Remove(sequence)) return;
            rtts.Add(rtt);
            finished++;
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "24 bytes from {0}: seq={1} time={2:0.000} ms", target, sequence, rtt));
        };
        var clock = Stopwatch.StartNew();
        long nextPingMs = 0;
        long waitMs = 2000;
        while (finished < count && client.IsConnected)
        {
            long now = clock.ElapsedMilliseconds;
            if (sent < count && now >= nextPingMs)
            {
                uint sequence = client.Ping();
                outstanding[sequence] = now;
                sent++;
                if (code != null) client.Send(Encoding.UTF8.GetBytes("hello from " + name + " #" + sent));
                nextPingMs = now + (long)(interval * 1000);
            }
            foreach (var entry in new List<KeyValuePair<uint, long>>(outstanding))
            {
                if (now - entry.Value < waitMs) continue;
                outstanding.Remove(entry.Key);
                finished++;
                Console.WriteLine("no reply for seq=" + entry.Key + " within 2 s");
            }
            client.Poll();
            Thread.Sleep(1);
        }
        client.StopReceiveThread();
        // The summary is the last output: the close that follows is ours, not news.
        client.EventReceived -= printEvent;

        Console.WriteLine();
        Console.WriteLine("--- " + target + " gamerelay-cs ping statistics ---");
        double loss = sent == 0 ? 0 : (sent - rtts.Count) * 100.0 / sent;
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0} packets transmitted, {1} received, {2:0.0}% packet loss", sent, rtts.Count, loss));
        if (rtts.Count > 0)
        {
            double min = double.MaxValue, max = 0, sum = 0;
            foreach (double r in rtts) { min = Math.Min(min, r); max = Math.Max(max, r); sum += r; }
            double avg = sum / rtts.Count, variance = 0;
            foreach (double r in rtts) variance += (r - avg) * (r - avg);
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "rtt min/avg/max/mdev = {0:0.000}/{1:0.000}/{2:0.000}/{3:0.000} ms",
                                            min, avg, max, Math.Sqrt(variance / rtts.Count)));
        }
        return rtts.Count == 0 ? 1 : 0;
    }
}
