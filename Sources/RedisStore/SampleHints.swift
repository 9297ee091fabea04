import TrackerCore

/// What one event loop remembers of each torrent's size: the seeder and leecher counts of its
/// last reply there. With them, the next announce picks its sample's slots before the script
/// runs and reads them with `HMGET`s pipelined behind it, so no sampled record passes through
/// Lua. Counts may be one announce old: a picked slot past the end comes back nil and is
/// skipped, and a slot added since is left out of this one sample. Touched only on its loop.
final class SampleHints: @unchecked Sendable {
    private var counts: [InfoHash: (seeders: Int, leechers: Int)] = [:]
    private var random: SplitMix64
    /// Bounds the memory: past it the table starts again (a torrent then samples in Lua once).
    static let capacity = 1 << 16

    init() {
        var seed = SystemRandomNumberGenerator()
        random = SplitMix64(seed: seed.next())
    }

    func counts(_ hash: InfoHash) -> (seeders: Int, leechers: Int)? { counts[hash] }

    func record(_ hash: InfoHash, seeders: Int, leechers: Int) {
        if counts.count >= Self.capacity, counts[hash] == nil { counts.removeAll(keepingCapacity: true) }
        counts[hash] = (seeders, leechers)
    }

    func forget(_ hash: InfoHash) { counts[hash] = nil }

    /// A seed for the script's own sampler (a torrent this loop has not seen yet).
    func seed() -> Int { Int(random.next() >> 12) }

    /// A random index in `0..<n` without a system call.
    func index(below n: Int) -> Int { Int.random(in: 0..<n, using: &random) }

    /// Slots to read for a peer of `role`: a uniform sample (Floyd) of the candidates, one more
    /// than `numwant` when the peer's own slot is among them (Squall drops it by peer_id).
    func picks(seeders ns: Int, leechers nl: Int, role: PeerRole, numwant: Int) -> (seeders: [Int], leechers: [Int]) {
        let withSeeders = role.wantsSeeders
        let total = withSeeders ? ns + nl : nl
        let k = min(role == .seeder ? numwant : numwant + 1, total)
        var s: [Int] = [], l: [Int] = []
        guard k > 0 else { return (s, l) }
        // Floyd: each step adds one new slot. A linear search is cheaper than a Set at these sizes.
        var chosen: [Int] = []
        chosen.reserveCapacity(k)
        for j in (total - k)..<total {
            var t = Int.random(in: 0...j, using: &random)
            if chosen.contains(t) { t = j }
            chosen.append(t)
            if withSeeders && t < ns { s.append(t) } else { l.append(withSeeders ? t - ns : t) }
        }
        return (s, l)
    }
}
