#if UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Reflection;
using NUnit.Framework;

namespace GameRelay.Tests
{
    /// <summary>
    /// Runs every test of <see cref="TestCatalog"/> in Unity's Test Runner (Edit Mode). The relay
    /// tests need <c>GAMERELAY_BIN</c> in the Editor's environment and are ignored without it.
    /// </summary>
    public class UnityTestAdapter
    {
        /// <summary>The test names, one NUnit case each.</summary>
        public static IEnumerable<string> Names()
        {
            foreach (var test in TestCatalog.AllTests()) yield return test.Key;
        }

        /// <summary>Runs one test by name.</summary>
        [TestCaseSource("Names")]
        public void Run(string name)
        {
            var test = TestCatalog.AllTests().Find(t => t.Key == name);
            try
            {
                test.Value.Invoke(null, null);
            }
            catch (TargetInvocationException e)
            {
                RelayTestProcess.KillAll();
                if (e.InnerException is InvalidOperationException && e.InnerException.Message.Contains("GAMERELAY_BIN"))
                    Assert.Ignore(e.InnerException.Message);
                if (e.InnerException is TestFailure) Assert.Fail(e.InnerException.Message);
                throw;
            }
        }

        /// <summary>Removes the test certificates.</summary>
        [OneTimeTearDown]
        public void TearDown()
        {
            RelayTestProcess.KillAll();
            TestCertificate.Cleanup();
        }
    }
}
#endif
