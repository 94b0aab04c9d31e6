#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Reflection;

namespace GameRelay.Tests
{
    /// <summary>
    /// The console runner for Mono (Unity runs the same tests through its Test Runner): runs every
    /// public static test method, prints <c>ok name</c> or <c>FAIL name: reason</c>, then
    /// <c>N passed, N failed</c>, and exits non-zero on any failure.
    /// </summary>
    public static class TestRunner
    {
        /// <summary>The test classes, in the order they run.</summary>
        public static readonly Type[] Suites = { typeof(RelayJsonTests), typeof(RelayClientTests) };

        /// <summary>Every test as (qualified name, method).</summary>
        public static List<KeyValuePair<string, MethodInfo>> AllTests()
        {
            var tests = new List<KeyValuePair<string, MethodInfo>>();
            foreach (var suite in Suites)
                foreach (var method in suite.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
                    if (method.ReturnType == typeof(void) && method.GetParameters().Length == 0)
                        tests.Add(new KeyValuePair<string, MethodInfo>(suite.Name + "." + method.Name, method));
            return tests;
        }

        /// <summary>Runs the tests whose names contain any argument (all without arguments).</summary>
        public static int Main(string[] args)
        {
            int passed = 0, failed = 0;
            foreach (var test in AllTests())
            {
                if (args.Length > 0 && Array.FindIndex(args, a => test.Key.Contains(a)) < 0) continue;
                var clock = System.Diagnostics.Stopwatch.StartNew();
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
            RelayTestProcess.KillAll();
            TestCertificate.Cleanup();
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed == 0 && passed > 0 ? 0 : 1;
        }
    }
}
#endif
