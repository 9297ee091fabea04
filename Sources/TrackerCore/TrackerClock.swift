/// Whole seconds on a monotonic clock: what expiry is measured in.
public protocol TrackerClock: Sendable {
    /// Seconds since an arbitrary fixed origin; never goes backwards.
    func now() -> UInt32
}

/// The process's monotonic clock, counted from when the clock was made.
public struct SystemTrackerClock: TrackerClock {
    private let origin = ContinuousClock.now
    private let start: UInt32
    /// `start`: what `now()` reads at first (1 by default).
    public init(start: UInt32 = 1) { self.start = start }
    public func now() -> UInt32 {
        let elapsed = ContinuousClock.now - origin
        return UInt32(clamping: elapsed.components.seconds + Int64(start))
    }
}
