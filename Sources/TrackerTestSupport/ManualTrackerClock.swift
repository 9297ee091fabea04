public import TrackerCore

/// A clock that moves only when told: tests advance time instead of sleeping.
public final class ManualTrackerClock: TrackerClock {
    private let seconds: Locked<UInt32>
    public init(start: UInt32 = 1) { seconds = Locked(start) }
    public func now() -> UInt32 { seconds.withLock { $0 } }
    public func advance(by delta: UInt32) { seconds.withLock { $0 += delta } }
}
