using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography.X509Certificates;

namespace GameRelay.Tests
{
    /// <summary>Self-signed test certificates made with the <c>openssl</c> command in a temporary directory.</summary>
    public static class TestCertificate
    {
        static string directory;

        /// <summary>Makes (once) a certificate for 127.0.0.1 and its key; a DER copy sits at <c>certificate + ".der"</c>.</summary>
        public static void Make(out string certificate, out string key)
        {
            string dir = Directory();
            certificate = Path.Combine(dir, "relay.pem");
            key = Path.Combine(dir, "relay-key.pem");
            if (!File.Exists(certificate + ".der")) Generate(certificate, key);
        }

        /// <summary>Starts a relay serving the test certificate on its control port, with <paramref name="extraArguments"/>.</summary>
        public static RelayTestProcess TlsRelay(string extraArguments = "")
        {
            string certificate, key;
            Make(out certificate, out key);
            return new RelayTestProcess(("--tls-cert " + certificate + " --tls-key " + key + " " + extraArguments).Trim());
        }

        /// <summary>The test certificate, for a client to pin.</summary>
        public static X509Certificate Pin()
        {
            string certificate, key;
            Make(out certificate, out key);
            return new X509Certificate(File.ReadAllBytes(certificate + ".der"));
        }

        /// <summary>Makes another, unrelated certificate and returns its PEM path.</summary>
        public static string MakeOther()
        {
            string dir = Directory();
            string certificate = Path.Combine(dir, "other.pem");
            if (!File.Exists(certificate + ".der")) Generate(certificate, Path.Combine(dir, "other-key.pem"));
            return certificate;
        }

        static string Directory()
        {
            if (directory != null) return directory;
            directory = Path.Combine(Path.GetTempPath(), "gamerelay-cs-tests-" + Process.GetCurrentProcess().Id);
            System.IO.Directory.CreateDirectory(directory);
            return directory;
        }

        /// <summary>Removes the temporary directory.</summary>
        public static void Cleanup()
        {
            if (directory != null && System.IO.Directory.Exists(directory)) System.IO.Directory.Delete(directory, true);
            directory = null;
        }

        static void Generate(string certificate, string key)
        {
            Run("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost " +
                "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + key + " -out " + certificate);
            Run("x509 -in " + certificate + " -outform DER -out " + certificate + ".der");
        }

        static void Run(string arguments)
        {
            var start = new ProcessStartInfo("openssl", arguments);
            start.UseShellExecute = false;
            start.RedirectStandardError = true;
            using (var process = Process.Start(start))
            {
                string errors = process.StandardError.ReadToEnd();
                if (!process.WaitForExit(30000)) throw new TestFailure("openssl did not finish within 30 s");
                if (process.ExitCode != 0) throw new TestFailure("openssl " + arguments + " failed: " + errors);
            }
        }
    }
}
