using System;
using System.Diagnostics;
using System.Threading;

namespace GameRelay.Tests
{
    /// <summary>A failed expectation.</summary>
    public sealed class TestFailure : Exception
    {
        /// <summary>Creates a failure with its reason.</summary>
        public TestFailure(string message) : base(message) { }
    }

    /// <summary>Expectations and bounded waits shared by the tests.</summary>
    public static class TestSupport
    {
        /// <summary>The longest any single wait lasts before the test fails.</summary>
        public const int DefaultTimeoutMs = 10000;

        /// <summary>Fails the test with <paramref name="what"/> unless <paramref name="condition"/> holds.</summary>
        public static void Check(bool condition, string what)
        {
            if (!condition) throw new TestFailure(what);
        }

        /// <summary>Fails unless the two values are equal.</summary>
        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!Equals(expected, actual)) throw new TestFailure(what + ": expected " + expected + ", got " + actual);
        }

        /// <summary>
        /// Runs <paramref name="pump"/> (the clients' Poll, a proxy) until <paramref name="condition"/>
        /// holds; fails after <paramref name="timeoutMs"/>.
        /// </summary>
        public static void WaitUntil(Func<bool> condition, Action pump, string what, int timeoutMs = DefaultTimeoutMs)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                pump();
                if (condition()) return;
                if (clock.ElapsedMilliseconds > timeoutMs) throw new TestFailure("timed out after " + timeoutMs + " ms waiting for " + what);
                // Yields the core between polls, like a frame would.
                Thread.Sleep(1);
            }
        }

        /// <summary>Pumps until <paramref name="operation"/> finishes and returns its result (throwing its error).</summary>
        public static T Await<T>(RelayOperation<T> operation, Action pump, string what, int timeoutMs = DefaultTimeoutMs)
        {
            WaitUntil(() => operation.IsDone, pump, what, timeoutMs);
            if (operation.Error != null) throw new TestFailure(what + " failed: " + operation.Error);
            return operation.Result;
        }

        /// <summary>Pumps until <paramref name="operation"/> fails and returns its error; fails the test if it succeeds.</summary>
        public static RelayException AwaitFailure<T>(RelayOperation<T> operation, Action pump, string what, int timeoutMs = DefaultTimeoutMs)
        {
            WaitUntil(() => operation.IsDone, pump, what, timeoutMs);
            if (operation.Error == null) throw new TestFailure(what + " succeeded, expected a failure");
            return operation.Error;
        }
    }
}
