#if !UNITY_5_3_OR_NEWER
using System;
using System.Diagnostics;
using System.Reflection;

namespace GameRelay.Tests
{
    /// <summary>
    /// The console runner for Mono (Unity runs the same tests through its Test Runner): runs every
    /// test of <see cref="TestCatalog"/>, prints <c>ok name</c> or <c>FAIL name: reason</c>, then
    /// <c>N passed, N failed</c>, and exits non-zero on any failure.
    /// </summary>
    public static class TestRunner
    {
        /// <summary>Runs the tests whose names contain any argument (all without arguments).</summary>
        public static int Main(string[] args)
        {
            int passed = 0, failed = 0;
            try
            {
                foreach (var test in TestCatalog.AllTests())
                {
                    if (args.Length > 0 && Array.FindIndex(args, a => test.Key.Contains(a)) < 0) continue;
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        test.Value.Invoke(null, null);
                        passed++;
                        Console.WriteLine("ok " + test.Key + " (" + clock.ElapsedMilliseconds + " ms)");
                    }
                    catch (TargetInvocationException e)
                    {
                        RelayTestProcess.KillAll();
                        failed++;
                        var cause = e.InnerException;
                        Console.WriteLine("FAIL " + test.Key + ": " + (cause is TestFailure ? cause.Message : cause.ToString()));
                    }
                }
            }
            finally
            {
                RelayTestProcess.KillAll();
                TestCertificate.Cleanup();
            }
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed == 0 && passed > 0 ? 0 : 1;
        }
    }
}
#endif
