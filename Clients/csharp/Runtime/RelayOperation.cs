using System;
using System.Collections;
using System.Runtime.ExceptionServices;

namespace GameRelay
{
    /// <summary>
    /// A request to the relay that completes later, inside <see cref="RelayClient.Poll"/> on the
    /// caller's thread. In Unity, <c>yield return operation;</c> in a coroutine waits for it.
    /// </summary>
    /// <typeparam name="T">What the operation yields on success.</typeparam>
    public sealed class RelayOperation<T> : IEnumerator
    {
        T result;
        Action<RelayOperation<T>> completed;

        /// <summary>Whether the operation finished, successfully or not.</summary>
        public bool IsDone { get; private set; }
        /// <summary>Why it failed, or null while pending or after success.</summary>
        public RelayException Error { get; private set; }
        /// <summary>Whether it finished successfully.</summary>
        public bool Succeeded { get { return IsDone && Error == null; } }

        /// <summary>The result.</summary>
        /// <exception cref="RelayException">The operation failed (this is its <see cref="Error"/>), or is still pending.</exception>
        public T Result
        {
            get
            {
                if (!IsDone) throw new RelayException(RelayErrorKind.TimedOut, "the operation has not completed yet");
                if (Error != null) throw Error;
                return result;
            }
        }

        /// <summary>
        /// Runs once the operation finishes, on the thread that calls <see cref="RelayClient.Poll"/>;
        /// a handler added after it finished runs at once. An exception it throws reaches the
        /// caller of <see cref="RelayClient.Poll"/> after the client has finished its own work.
        /// </summary>
        public event Action<RelayOperation<T>> Completed
        {
            add
            {
                if (IsDone) value(this);
                else completed += value;
            }
            remove { completed -= value; }
        }

        internal void Succeed(T value)
        {
            if (IsDone) return;
            result = value;
            Finish();
        }

        internal void Fail(RelayException error)
        {
            if (IsDone) return;
            Error = error;
            Finish();
        }

        /// <summary>Runs every handler even when one throws, then rethrows the first exception.</summary>
        void Finish()
        {
            IsDone = true;
            var handlers = completed;
            completed = null;
            if (handlers == null) return;
            Exception first = null;
            foreach (Action<RelayOperation<T>> handler in handlers.GetInvocationList())
            {
                try
                {
                    handler(this);
                }
                catch (Exception e)
                {
                    if (first == null) first = e;
                }
            }
            if (first != null) ExceptionDispatchInfo.Capture(first).Throw();
        }

        /// <summary>Coroutine support: true while the operation is pending.</summary>
        public bool MoveNext() { return !IsDone; }
        /// <summary>Coroutine support: does nothing.</summary>
        public void Reset() { }
        /// <summary>Coroutine support: always null (wait one frame).</summary>
        public object Current { get { return null; } }
    }
}
