using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;

namespace GameRelay.Tests
{
    /// <summary>
    /// One <c>gamerelay serve</c> on a free loopback port, started from <c>GAMERELAY_BIN</c>; it
    /// reads the relay's readiness line (PROTOCOL.md §5) to learn the ports.
    /// </summary>
    public sealed class RelayTestProcess : IDisposable
    {
        readonly Process process;
        static readonly List<RelayTestProcess> Running = new List<RelayTestProcess>();

        /// <summary>Ends every relay a test left running, such as one whose test failed before its <c>using</c>.</summary>
        public static void KillAll()
        {
            List<RelayTestProcess> left;
            lock (Running) left = new List<RelayTestProcess>(Running);
            foreach (var relay in left) relay.Dispose();
        }

        /// <summary>The control port.</summary>
        public int ControlPort { get; private set; }
        /// <summary>The UDP port.</summary>
        public int UdpPort { get; private set; }
        /// <summary>The relay's address for clients: 127.0.0.1 or ::1.</summary>
        public string Host { get; private set; }

        /// <summary>Starts a relay on <paramref name="host"/> with <paramref name="extraArguments"/> and waits (bounded) for its readiness line.</summary>
        public RelayTestProcess(string extraArguments = "", string host = "127.0.0.1")
        {
            Host = host;
            string binary = Environment.GetEnvironmentVariable("GAMERELAY_BIN");
            if (string.IsNullOrEmpty(binary) || !File.Exists(binary))
                throw new InvalidOperationException("set GAMERELAY_BIN to the gamerelay binary");
            var start = new ProcessStartInfo(binary, "serve --host " + host + " --port 0 --log-level error " + extraArguments);
            start.UseShellExecute = false;
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = false;
            // The relay reads GAMERELAY_* variables as flags; the test's own must not reach it.
            start.EnvironmentVariables.Remove("GAMERELAY_BIN");
            process = Process.Start(start);
            lock (Running) Running.Add(this);
            // ReadLine blocks; a relay that never prints its line is killed by the watchdog below.
            var readLine = process.StandardOutput.ReadLineAsync();
            if (!readLine.Wait(15000) || readLine.Result == null)
            {
                Dispose();
                throw new InvalidOperationException("the relay printed no readiness line within 15 s");
            }
            string line = readLine.Result;
            var control = Regex.Match(line, "\"control\":\"[^\"]*:([0-9]+)\"");
            var udp = Regex.Match(line, "\"udp\":\"[^\"]*:([0-9]+)\"");
            if (!control.Success || !udp.Success)
            {
                Dispose();
                throw new InvalidOperationException("unexpected readiness line: " + line);
            }
            ControlPort = int.Parse(control.Groups[1].Value);
            UdpPort = int.Parse(udp.Groups[1].Value);
        }

        /// <summary>Ends the relay at once.</summary>
        public void Dispose()
        {
            lock (Running)
            {
                if (!Running.Remove(this)) return;
            }
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
    }
}
