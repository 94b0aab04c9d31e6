import CLibUV

/// A libuv handle owned by a Swift object.
///
/// libuv's contract: a handle's memory may be reclaimed only in its close callback. The owner is
/// retained through the handle's `data` field from initialisation until that callback, so it
/// outlives every callback libuv may still make; an owner that is never closed is never freed.
protocol LoopHandle: AnyObject {
    /// Closes the handle as if the owner had called `close()`. Loop thread only.
    func closeForShutdown()
    /// Called from the close callback, just before the handle's memory is freed. Loop thread only.
    func handleDidClose()
}

extension LoopHandle {
    func handleDidClose() {}
}

/// Allocation and close plumbing shared by the handle wrappers.
enum UVHandle {
    /// Allocates uninitialised memory for a handle of `type`, bound to the Swift struct `T`.
    static func allocate<T>(_ type: uv_handle_type, as: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer.allocate(byteCount: uv_handle_size(type), alignment: 16)
            .bindMemory(to: T.self, capacity: 1)
    }

    /// Frees a handle that was allocated but never initialised with libuv.
    static func free<T>(_ handle: UnsafeMutablePointer<T>) {
        UnsafeMutableRawPointer(handle).deallocate()
    }

    /// Stores a retained reference to `owner` in the handle's `data`.
    static func attach(_ owner: some LoopHandle, to handle: UnsafeMutablePointer<uv_handle_t>) {
        handle.pointee.data = Unmanaged.passRetained(owner as AnyObject).toOpaque()
    }

    /// Starts closing `handle` unless it is closing already; the owner is told and released,
    /// and the memory freed, in the close callback.
    static func close(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        guard uv_is_closing(handle) == 0 else { return }
        uv_close(handle) { handle in
            guard let handle else { return }
            if let data = handle.pointee.data {
                handle.pointee.data = nil
                let owner = Unmanaged<AnyObject>.fromOpaque(data).takeRetainedValue()
                (owner as? LoopHandle)?.handleDidClose()
            }
            UnsafeMutableRawPointer(handle).deallocate()
        }
    }

    /// Reinterprets a typed handle pointer as the generic `uv_handle_t`.
    @inline(__always)
    static func generic<T>(_ handle: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)
    }
}
