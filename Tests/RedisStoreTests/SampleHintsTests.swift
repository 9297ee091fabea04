import Testing
import TrackerCore

@testable import RedisStore

/// The runs of slots Squall reads for a sample (pure: no Redis).
@Suite struct SampleHintsTests {
    /// Every candidate slot a set of ranges covers, as positions among the candidates.
    private func positions(_ ranges: [SampleHints.Slots], seeders ns: Int, withSeeders: Bool) -> [Int] {
        ranges.flatMap { r in (r.first..<(r.first + r.count)).map { r.seeders || !withSeeders ? $0 : ns + $0 } }
    }

    @Test func rangesCoverEnoughDistinctCandidatesInsideTheCounts() {
        let hints = SampleHints()
        for (ns, nl) in [(0, 1), (3, 4), (0, 100), (40, 0), (300, 700), (7, 1000), (1000, 13)] {
            for role in [PeerRole.leecher, .seeder, .partialSeed] {
                for numwant in [0, 1, 11, 12, 13, 50, 200] {
                    let ranges = hints.ranges(seeders: ns, leechers: nl, role: role, numwant: numwant)
                    let total = role.wantsSeeders ? ns + nl : nl
                    let want = min(role == .seeder ? numwant : numwant + 1, total)
                    let got = positions(ranges, seeders: ns, withSeeders: role.wantsSeeders)
                    #expect(Set(got).count == got.count, "no slot twice: \(ns)/\(nl) \(role) \(numwant)")
                    #expect(got.count >= want, "at least \(want): \(ns)/\(nl) \(role) \(numwant)")
                    #expect(got.allSatisfy { (0..<total).contains($0) }, "inside the counts: \(ns)/\(nl) \(role)")
                    #expect(ranges.allSatisfy { $0.count > 0 && (!$0.seeders || role.wantsSeeders) })
                }
            }
        }
    }

    @Test func everyCandidateIsEquallyLikely() {
        let hints = SampleHints()
        // 203 candidates (not a multiple of the run), samples of 51: each is read with
        // probability 52/203 on average; the turn spreads the runs' leftovers over all of them.
        let (ns, nl, draws) = (61, 142, 20_000)
        var hits = [Int](repeating: 0, count: ns + nl)
        for _ in 0..<draws {
            for p in positions(hints.ranges(seeders: ns, leechers: nl, role: .leecher, numwant: 50), seeders: ns, withSeeders: true) {
                hits[p] += 1
            }
        }
        let mean = Double(hits.reduce(0, +)) / Double(hits.count)
        // Binomial spread at p ~ 0.26 over 20,000 draws is about 62 (1.2 %); allow 6 %.
        #expect(hits.allSatisfy { abs(Double($0) - mean) < 0.06 * mean }, "min \(hits.min()!) max \(hits.max()!) mean \(mean)")
    }
}
