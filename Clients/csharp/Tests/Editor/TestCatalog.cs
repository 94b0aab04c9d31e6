using System;
using System.Collections.Generic;
using System.Reflection;

namespace GameRelay.Tests
{
    /// <summary>Every test: each public static parameterless method of the test classes, for both runners.</summary>
    public static class TestCatalog
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
    }
}
