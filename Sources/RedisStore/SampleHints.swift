import TrackerCore

/// What one event loop remembers of each torrent's size: the seeder and leecher counts of its
/// last reply there. With them, the next announce picks its sample's slots before the script
/// runs and the script reads them with one `GETRANGE` each. Counts may be one announce old:
/// slots past the end read as zeros or nothing and are skipped, and a slot added since is left
/// out of this one sample. Touched only on its loop: its connection holds it in an `NIOLoopBoundBox`.
final class SampleHints {
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

    /// Slots read together: a sample is made of runs of this many adjacent slots (two for the
    /// usual 50). The slot order is a random permutation kept up by the scripts, so a run is a
    /// uniform sample; a run costs one `GETRANGE` instead of a hash lookup per peer. Shorter runs
    /// mix samples more but cost a command each.
    static let run = 26

    /// A range of slots of `s` (seeders) or `l`.
    struct Slots: Equatable {
        var seeders: Bool
        var first: Int
        var count: Int
    }

    /// The slots to read for a peer of `role`, at least `numwant` of the candidates (one more
    /// when the peer's own slot is among them; Squall drops it by peer_id and cuts the rest at
    /// random). The candidates (seeders then leechers, or leechers alone) are turned by a random
    /// offset and cut into runs; a uniform choice of runs (Floyd) then gives every candidate the
    /// same chance. The few candidates a turn leaves out of whole runs wait for another turn.
    func ranges(seeders ns: Int, leechers nl: Int, role: PeerRole, numwant: Int) -> [Slots] {
        let withSeeders = role.wantsSeeders
        let total = withSeeders ? ns + nl : nl
        let k = min(role == .seeder ? numwant : numwant + 1, total)
        guard k > 0 else { return [] }
        let runs = total / Self.run
        let need = (k + Self.run - 1) / Self.run
        var spans: [(start: Int, count: Int)] = []
        if need >= runs {
            spans = [(0, total)]
        } else {
            let turn = index(below: total)
            var chosen: [Int] = []
            chosen.reserveCapacity(need)
            for j in (runs - need)..<runs {
                var t = Int.random(in: 0...j, using: &random)
                if chosen.contains(t) { t = j }
                chosen.append(t)
            }
            chosen.sort()
            for r in chosen {
                let start = turn + r * Self.run
                if let last = spans.last, last.start + last.count == start {
                    spans[spans.count - 1].count += Self.run
                } else {
                    spans.append((start, Self.run))
                }
            }
        }
        // Back from positions among the candidates (modulo their number) to slots of s and l.
        var out: [Slots] = []
        for span in spans {
            var at = span.start % total
            var left = span.count
            while left > 0 {
                let inSeeders = withSeeders && at < ns
                let n = min(left, (inSeeders ? ns : total) - at)
                out.append(Slots(seeders: inSeeders, first: inSeeders || !withSeeders ? at : at - ns, count: n))
                left -= n
                at = (at + n) % total
            }
        }
        return out
    }
}
