#if canImport(Glibc)
    import Glibc
#endif

/// One window of a peer-list rate limit: at most `max` lists per `window` seconds, counted
/// with exponential decay (UNIT3D-Announce's model: `60=10` is about ten lists a minute).
public struct ListRateLimit: Sendable, Equatable {
    public var window: Double
    public var max: Double
    public init(window: Double, max: Double) { (self.window, self.max) = (window, max) }

    /// Parses UNIT3D-Announce's form, `WINDOW=MAX;WINDOW=MAX;...` (seconds, lists); nil when
    /// a part is not two positive numbers.
    public static func parse(_ text: String) -> [ListRateLimit]? {
        var out: [ListRateLimit] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", omittingEmptySubsequences: false)
            guard kv.count == 2, let w = Double(kv[0].trimmingSpaces), let m = Double(kv[1].trimmingSpaces), w > 0, m > 0,
                w.isFinite, m.isFinite
            else { return nil }
            out.append(ListRateLimit(window: w, max: m))
        }
        return out
    }

    public static let defaultSeedLists = parse("60=10;900=25;7200=125;86400=500;604800=2500")!
    public static let defaultLeechLists = parse("60=20;900=50;7200=250;86400=1000;604800=5000")!
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// One user's rate of one kind of list: a decayed count per window.
public struct ListRate: Sendable, Equatable {
    public private(set) var counts: [Double]
    /// Seconds (any fixed origin) of the last tick.
    public private(set) var updatedAt: Double

    public init(windows: Int, now: Double) {
        counts = Array(repeating: 0, count: windows)
        updatedAt = now
    }

    /// Counts one requested list at `now` and says whether it is allowed: every window's count,
    /// decayed to now (UNIT3D-Announce tests the count as of its last tick, which lets a burst
    /// after a pause through), is below its maximum. A refused list still counts, as there.
    public mutating func tick(_ limits: [ListRateLimit], now: Double) -> Bool { count(limits, now: now) == nil }

    /// `tick`, saying which window refused the list (the first over its maximum), nil when
    /// allowed.
    public mutating func count(_ limits: [ListRateLimit], now: Double) -> Int? {
        if counts.count != limits.count { counts = Array(repeating: 0, count: limits.count) }
        let dt = Swift.max(0, now - updatedAt)
        var refusedBy: Int?
        for i in limits.indices {
            let decayed = dt == 0 ? counts[i] : counts[i] * exp(-dt / limits[i].window)
            if refusedBy == nil, decayed + 1 > limits[i].max + 1e-9 { refusedBy = i }
            counts[i] = decayed + 1
        }
        updatedAt = Swift.max(updatedAt, now)
        return refusedBy
    }

    /// The counts decayed to `now`, for the site API's `GET /users/{id}`.
    public func decayed(_ limits: [ListRateLimit], to now: Double) -> [Double] {
        let dt = Swift.max(0, now - updatedAt)
        return zip(counts, limits).map { $0 * exp(-dt / $1.window) }
    }
}
