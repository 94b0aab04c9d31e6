/// A connected byte stream as a control channel sees it: bytes in, bytes out, back-pressure and
/// closing, whatever carries them (a plain ``Socket``, or ``TLSStream`` over one).
///
/// Loop-bound like the socket under it. The callbacks have ``Socket``'s meanings: ``onData``
/// when bytes can be read, ``onClose`` when the peer ends the stream, ``onIOError`` when it
/// fails (the stream is closed after either), ``onOutputProgress`` when written bytes reach the
/// kernel.
public protocol ByteStream: AnyObject {
    /// The loop that owns the stream.
    var loop: EventLoop { get }
    /// Called when new bytes can be read, with their count.
    var onData: ((Int) -> Void)? { get set }
    /// Called when the peer ends the stream; the stream is closed after it.
    var onClose: (() -> Void)? { get set }
    /// Called when the stream fails; it is closed after it.
    var onIOError: ((SocketError) -> Void)? { get set }
    /// Called when written bytes reach the kernel, with the bytes still pending.
    var onOutputProgress: ((Int) -> Void)? { get set }
    /// The number of received bytes not yet read.
    var bytesAvailable: Int { get }
    /// Consumes `count` received bytes and lends them to `body` (``Socket/readRawBytes(count:_:)``).
    func readRawBytes<R>(count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R
    /// Queues bytes to send; ``flush()`` sends them.
    func writeRawBytes(_ bytes: UnsafeRawBufferPointer)
    /// Sends the queued bytes as the connection allows.
    func flush()
    /// Bytes written but not yet taken by the kernel.
    var bytesPending: Int { get }
    /// Stops reading from the peer until ``resumeReading()``.
    func pauseReading()
    /// Resumes reading after ``pauseReading()``.
    func resumeReading()
    /// Sends what is queued, then ends this side of the stream; reading goes on.
    func shutdownOutput()
    /// Closes the stream now, without ``onClose``; queued output is discarded.
    func close()
    /// Whether the stream is closed.
    var isClosed: Bool { get }
}

extension Socket: ByteStream {}
