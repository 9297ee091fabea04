import TrackerCore

/// The charts' data: announces per second and peers, sampled every `interval` seconds in memory
/// for the last hour.
final class StatsHistory: Sendable {
    static let interval = 10
    static let capacity = 3600 / interval
    struct Point: Sendable {
        var time: Int
        var announcesPerSecond: Double
        var peers: Int
    }
    private struct State {
        var points: [Point] = []
        var lastTotal: Int?
        var lastTime = 0
    }
    private let state = Locked(State())

    /// One sample: `announces` is the running total, turned into a rate since the last sample.
    func record(time: Int, announces: Int, peers: Int) {
        state.withLock { s in
            let rate = s.lastTotal.map { Double(announces - $0) / Double(max(1, time - s.lastTime)) } ?? 0
            s.points.append(Point(time: time, announcesPerSecond: rate, peers: peers))
            if s.points.count > Self.capacity { s.points.removeFirst(s.points.count - Self.capacity) }
            (s.lastTotal, s.lastTime) = (announces, time)
        }
    }

    var points: [Point] { state.withLock { $0.points } }

    /// `{"interval":10,"points":[[unix time, announces per second, peers], ...]}`
    var json: String {
        let items = points.map { "[\($0.time),\(StatsPage.format($0.announcesPerSecond)),\($0.peers)]" }
        return #"{"interval":\#(Self.interval),"points":[\#(items.joined(separator: ","))]}"# + "\n"
    }
}
