#if SQUALL_TSAN
    import Glibc
#else
    public import Synchronization
#endif

#if SQUALL_TSAN
    /// The lock every module takes for shared state. In a ThreadSanitizer build
    /// (`-Xswiftc -DSQUALL_TSAN`, as `SOAK_SANITIZER=thread make soak` builds) it is a pthread
    /// mutex: Synchronization's `Mutex` locks with futex system calls, which ThreadSanitizer
    /// does not see, so it reports every access inside `withLock` as a race and hides the real
    /// ones among them. Every other build uses `Mutex` itself (below), unchanged.
    public final class Locked<Value: ~Copyable>: @unchecked Sendable {
        private var value: Value
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

        public init(_ initialValue: consuming Value) {
            value = initialValue
            pthread_mutex_init(mutex, nil)
        }

        deinit {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }

        public func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }
    }
#else
    /// The lock every module takes for shared state: Synchronization's `Mutex`, except in a
    /// ThreadSanitizer build (see above).
    public typealias Locked<Value: ~Copyable> = Mutex<Value>
#endif
