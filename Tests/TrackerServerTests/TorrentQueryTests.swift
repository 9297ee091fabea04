import Testing
import TrackerCore
import TrackerTestSupport

@testable import TrackerServer

/// The statistics table's paging, sorting and search, on plain rows.
@Suite struct TorrentQueryTests {
    static func row(_ n: Int, seeders: Int, leechers: Int = 0, last: UInt32 = 0) -> TorrentRow {
        var bytes = [UInt8](repeating: 0, count: 20)
        bytes[0] = UInt8(n >> 8)
        bytes[1] = UInt8(n & 0xff)
        return TorrentRow(
            infoHash: InfoHash(bytes)!, seeders: seeders, leechers: leechers, completed: n % 7, ipv4: n % 5, ipv6: n % 3, idle: last)
    }

    @Test func pagesAreSortedByTheColumnWithTiesByInfoHash() {
        let rows = (0..<100).map { Self.row($0, seeders: $0 % 10, leechers: 100 - $0) }.shuffled()
        let page = TorrentQuery(start: 0, length: 15, order: .seeders, ascending: false).run(on: rows)
        #expect(page.total == 100 && page.filtered == 100 && page.rows.count == 15)
        #expect(page.rows.prefix(10).allSatisfy { $0.seeders == 9 } && page.rows[10].seeders == 8)
        let nines = page.rows.prefix(10).map(\.infoHash.raw.hex)
        #expect(nines == nines.sorted(), "ties in info_hash order")
        let second = TorrentQuery(start: 15, length: 15, order: .seeders, ascending: false).run(on: rows)
        #expect(Set(second.rows.map(\.infoHash)).isDisjoint(with: page.rows.map(\.infoHash)), "pages do not overlap")
        let byLeechers = TorrentQuery(start: 0, length: 3, order: .leechers, ascending: true).run(on: rows)
        #expect(byLeechers.rows.map(\.leechers) == [1, 2, 3])
        let byHash = TorrentQuery(start: 0, length: 2, order: .infoHash, ascending: false).run(on: rows)
        #expect(byHash.rows.map(\.infoHash) == [Self.row(99, seeders: 0).infoHash, Self.row(98, seeders: 0).infoHash])
    }

    @Test func thePartialSelectionAgreesWithAFullSortOnEveryColumn() {
        var rng = SplitMix64(seed: 7)
        let rows = (0..<2000).map {
            Self.row($0, seeders: Int(rng.next() % 50), leechers: Int(rng.next() % 50), last: UInt32(rng.next() % 100))
        }
        for column in TorrentQuery.Column.allCases {
            for ascending in [true, false] {
                let all = TorrentQuery(start: 0, length: 2000, order: column, ascending: ascending).run(on: rows).rows
                for start in [0, 10, 400, 1990] {
                    let page = TorrentQuery(start: start, length: 10, order: column, ascending: ascending).run(on: rows).rows
                    #expect(page == Array(all[start..<min(2000, start + 10)]), "\(column) \(ascending) \(start)")
                }
            }
        }
    }

    @Test func searchIsAnInfoHashPrefixInEitherCase() {
        let rows = (0..<600).map { Self.row($0, seeders: 1) }
        // Rows 256...511 start with 01.
        let page = TorrentQuery(start: 0, length: 10, search: "01", order: .infoHash, ascending: true).run(on: rows)
        #expect(page.total == 600 && page.filtered == 256 && page.rows.first?.infoHash == Self.row(256, seeders: 0).infoHash)
        #expect(TorrentQuery(search: "01FF").run(on: rows).filtered == 1)
        #expect(TorrentQuery(search: "zz").run(on: rows).filtered == 0)
        #expect(TorrentQuery(start: 700, length: 10).run(on: rows).rows.isEmpty)
    }
}

/// The table's kept order at the size of a large tracker: a page anywhere costs the page.
@Suite struct TorrentTableTests {
    static func rows(_ n: Int) -> [TorrentRow] {
        var rng = SplitMix64(seed: 11)
        return (0..<n).map { i in
            var bytes = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[19] = UInt8(i & 0xFF)
            return TorrentRow(
                infoHash: InfoHash(bytes)!, seeders: Int.random(in: 0..<50, using: &rng), leechers: Int.random(in: 0..<50, using: &rng),
                completed: i % 13, ipv4: i % 5, ipv6: i % 3, idle: UInt32(i % 1800))
        }
    }

    @Test func pagesAnywhereIn100000TorrentsAreFastAndAgreeWithAFullSort() {
        let n = 100_000
        let table = TorrentTable(rows: Self.rows(n))
        // Built once per refresh of the rows (and kept with them), not per page.
        _ = table.order(.seeders, ascending: false)
        let full = table.rows.sorted { TorrentQuery.before($0, $1, .seeders, false) }
        for start in [0, n / 4 - 500, n / 2, n - 25] {
            let clock = ContinuousClock()
            var page: TorrentPage?
            let took = clock.measure { page = TorrentQuery(start: start, length: 25, order: .seeders).run(on: table) }
            #expect(took < .milliseconds(50), "page at \(start) took \(took)")
            #expect(page?.rows == Array(full[start..<min(n, start + 25)]), "page at \(start)")
        }
        // A search is one pass over the kept order (checked for its result, not timed).
        let prefix = String(table.rows[12345].infoHash.raw.hex.prefix(3))
        let found = TorrentQuery(start: 0, length: 25, search: prefix, order: .seeders).run(on: table)
        let matching = full.filter { $0.infoHash.raw.hex.hasPrefix(prefix) }
        #expect(found.filtered == matching.count && found.rows == Array(matching.prefix(25)))
    }

    /// Searches of every length, 1 to 40 digits (the masked integer covers 16, the nibbles the
    /// rest), agree with filtering the hex strings.
    @Test func searchesOfEveryLengthAgreeWithTheHexStrings() {
        var rows = Self.rows(3000)
        // Hashes sharing long prefixes with row 0's, differing at digit 10, 16, 17, 30 and 39.
        for cut in [10, 16, 17, 30, 39] {
            var hex = Array(rows[0].infoHash.raw.hex.utf8)
            hex[cut] = hex[cut] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            var row = rows[cut]
            row.infoHash = InfoHash(Bytes20(hex: String(decoding: hex, as: UTF8.self))!)
            rows[cut] = row
        }
        let table = TorrentTable(rows: rows)
        let sorted = rows.sorted { TorrentQuery.before($0, $1, .leechers, true) }
        let target = rows[0].infoHash.raw.hex
        for length in 1...40 {
            for prefix in [String(target.prefix(length)), String(rows[length * 7].infoHash.raw.hex.prefix(length)).uppercased()] {
                let found = TorrentQuery(start: 0, length: 500, search: prefix, order: .leechers, ascending: true).run(on: table)
                let matching = sorted.filter { $0.infoHash.raw.hex.hasPrefix(prefix.lowercased()) }
                #expect(found.filtered == matching.count && found.rows == Array(matching.prefix(500)), "\(prefix)")
            }
        }
    }

    @Test func hexPrefixesMatchNibbleByNibble() {
        let hash = InfoHash([0xAB, 0xCD] + [UInt8](repeating: 0, count: 18))!.raw
        #expect(TorrentQuery.hash(hash, startsWith: [0xA]))
        #expect(TorrentQuery.hash(hash, startsWith: [0xA, 0xB, 0xC]))
        #expect(!TorrentQuery.hash(hash, startsWith: [0xA, 0xC]))
        #expect(TorrentQuery.hash(hash, startsWith: [0xA, 0xB, 0xC, 0xD] + [UInt8](repeating: 0, count: 36)))
        #expect(!TorrentQuery.hash(hash, startsWith: [UInt8](repeating: 0, count: 41)))
    }
}
