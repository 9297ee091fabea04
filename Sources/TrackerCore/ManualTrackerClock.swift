import Synchronization

/// A clock that moves only when told: tests advance time instead of sleeping.
public final class ManualTrackerClock: TrackerClock {
    private let seconds: Mutex<UInt32>
    public init(start: UInt32 = 1) { seconds = Mutex(start) }
    public func now() -> UInt32 { seconds.withLock { $0 } }
    public func advance(by delta: UInt32) { seconds.withLock { $0 += delta } }
}
