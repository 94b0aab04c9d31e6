#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered writes to stdout and stderr: a line written here is out before the call returns,
/// which the readiness line needs, and no C `FILE` global is touched from Swift 6 code.
enum Console {
    /// Writes `text` to standard output.
    static func out(_ text: String) { write(all: text, to: STDOUT_FILENO) }

    /// Writes `text` to standard error.
    static func error(_ text: String) { write(all: text, to: STDERR_FILENO) }

    /// Writes `text` to descriptor `fd`, all of it unless the descriptor fails.
    static func write(all text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// The width of the terminal on `fd`, in columns; nil when `fd` is not a terminal or won't say.
    static func columns(of fd: Int32) -> Int? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}
