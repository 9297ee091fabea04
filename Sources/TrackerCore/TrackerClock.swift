/// Whole seconds on a monotonic clock: what expiry is measured in.
public protocol TrackerClock: Sendable {
    /// Seconds since an arbitrary fixed origin; never goes backwards.
    func now() -> UInt32
}

/// The process's monotonic clock, counted from when the clock was made.
public struct SystemTrackerClock: TrackerClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> UInt32 {
        let elapsed = ContinuousClock.now - origin
        return UInt32(clamping: elapsed.components.seconds + 1)
    }
}
