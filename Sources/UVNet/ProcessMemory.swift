import CLibUV

/// The process's heap, for servers whose bursts of work leave it fragmented.
public enum ProcessMemory {
    /// Returns the heap's free pages to the system (glibc's `malloc_trim(0)`): memory freed in the
    /// middle of a fragmented heap otherwise stays mapped after a burst. It walks every arena,
    /// taking each one's lock briefly, so call it rarely and off any per-packet path.
    ///
    /// - Returns: Whether any memory was returned.
    @discardableResult
    public static func releaseFreePages() -> Bool {
        cuv_malloc_trim() != 0
    }
}
