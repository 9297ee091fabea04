import TrackerCore

/// A page of the torrents table: what DataTables' server-side mode asks for.
struct TorrentQuery: Sendable, Equatable {
    enum Column: Int, Sendable, CaseIterable {
        case infoHash, seeders, leechers, completed, ipv4, ipv6, idle
    }
    var start: Int
    var length: Int
    /// Lower-case hexadecimal the info_hash must start with; empty matches every torrent.
    var search: String
    var order: Column
    var ascending: Bool

    init(start: Int = 0, length: Int = 25, search: String = "", order: Column = .seeders, ascending: Bool = false) {
        (self.start, self.length, self.search, self.order, self.ascending) = (max(0, start), max(0, length), search, order, ascending)
    }

    /// Filters `rows` by the search prefix, sorts them by the column (ties by info_hash, so
    /// pages never overlap), and cuts the page. Sorts once; `run(on: TorrentTable)` keeps the
    /// order for the next page.
    func run(on rows: [TorrentRow]) -> TorrentPage { run(on: TorrentTable(rows: rows)) }

    /// The page from `table`'s kept order for this column and direction: O(length) without a
    /// search; with one, one pass over the rows comparing one masked integer each (the hash's
    /// first 16 hex digits, kept per table), nibbles beyond that only where those match.
    func run(on table: TorrentTable) -> TorrentPage {
        let rows = table.rows
        let order = table.order(self.order, ascending: ascending)
        let prefix = Array(search.utf8).compactMap(hexDigitValue)
        if prefix.count < search.utf8.count {
            // Not hexadecimal: no info_hash starts with it.
            return TorrentPage(total: rows.count, filtered: 0, rows: [])
        }
        if prefix.isEmpty {
            guard start < rows.count, length > 0 else { return TorrentPage(total: rows.count, filtered: rows.count, rows: []) }
            let end = min(rows.count, start + length)
            return TorrentPage(total: rows.count, filtered: rows.count, rows: order[start..<end].map { rows[Int($0)] })
        }
        let (mask, value) = Self.leadingMask(prefix)
        let beyond = prefix.count > 16
        var filtered = 0
        var page: [TorrentRow] = []
        table.leading.withUnsafeBufferPointer { leading in
            order.withUnsafeBufferPointer { order in
                for i in order where leading[Int(i)] & mask == value {
                    if beyond, !Self.hash(rows[Int(i)].infoHash.raw, startsWith: prefix) { continue }
                    if filtered >= start, page.count < length { page.append(rows[Int(i)]) }
                    filtered += 1
                }
            }
        }
        return TorrentPage(total: rows.count, filtered: filtered, rows: page)
    }

    /// The first 16 hex digits of a hash (its first 8 bytes) as one integer.
    static func leading(_ hash: Bytes20) -> UInt64 {
        UInt64(UInt32(bigEndian: hash.w0)) << 32 | UInt64(UInt32(bigEndian: hash.w1))
    }

    /// The mask and value `leading(hash)` has when the hash starts with `nibbles` (their first 16).
    static func leadingMask(_ nibbles: [UInt8]) -> (mask: UInt64, value: UInt64) {
        var (mask, value) = (UInt64(0), UInt64(0))
        for (i, n) in nibbles.prefix(16).enumerated() {
            let shift = UInt64(60 - 4 * i)
            mask |= 0xF << shift
            value |= UInt64(n & 0xF) << shift
        }
        return (mask, value)
    }

    /// Whether the hash's hexadecimal form starts with `nibbles` (values 0...15).
    static func hash(_ hash: Bytes20, startsWith nibbles: [UInt8]) -> Bool {
        guard nibbles.count <= 40 else { return false }
        return hash.withBytes { bytes in
            for (i, n) in nibbles.enumerated() {
                let byte = bytes[i / 2]
                if (i % 2 == 0 ? byte >> 4 : byte & 0x0F) != n { return false }
            }
            return true
        }
    }

    /// The table's order: by `column` in `ascending` or descending order, ties by info_hash
    /// ascending (by info_hash itself, simply that direction).
    static func before(_ a: TorrentRow, _ b: TorrentRow, _ column: Column, _ ascending: Bool) -> Bool {
        let (x, y) = ascending ? (a, b) : (b, a)
        if column == .infoHash { return hashBefore(x.infoHash.raw, y.infoHash.raw) }
        let k = sortKey(x, column), l = sortKey(y, column)
        if k != l { return k < l }
        return hashBefore(a.infoHash.raw, b.infoHash.raw)
    }

    /// Byte order (as the hex strings sort), without making the strings.
    private static func hashBefore(_ a: Bytes20, _ b: Bytes20) -> Bool {
        for (x, y) in [(a.w0, b.w0), (a.w1, b.w1), (a.w2, b.w2), (a.w3, b.w3), (a.w4, b.w4)] where x != y {
            return UInt32(bigEndian: x) < UInt32(bigEndian: y)
        }
        return false
    }

    /// What a row sorts by in `c` (ties, and the info_hash column itself, go by info_hash).
    static func sortKey(_ r: TorrentRow, _ c: Column) -> Int {
        switch c {
        case .infoHash: 0
        case .seeders: r.seeders
        case .leechers: r.leechers
        case .completed: r.completed
        case .ipv4: r.ipv4
        case .ipv6: r.ipv6
        case .idle: Int(r.idle)
        }
    }
}

/// A page of the torrents table and the counts DataTables shows under it.
struct TorrentPage: Sendable, Equatable {
    var total: Int
    var filtered: Int
    var rows: [TorrentRow]
    init(total: Int, filtered: Int, rows: [TorrentRow]) { (self.total, self.filtered, self.rows) = (total, filtered, rows) }
}

/// A snapshot of the torrents table with its sorted orders, each computed once (O(n log n)) on
/// first use and kept with the rows, so a page costs O(length) without a search and one pass
/// over the rows with one: DataTables asks again for every page, sort and keystroke.
final class TorrentTable: Sendable {
    let rows: [TorrentRow]
    private struct Key: Hashable {
        var column: TorrentQuery.Column
        var ascending: Bool
    }
    /// Row indices in each order asked for so far (at most 14: seven columns, two directions).
    private let orders = Locked<[Key: [Int32]]>([:])
    /// Each row's `TorrentQuery.leading(hash)`, for searches.
    let leading: [UInt64]

    init(rows: [TorrentRow]) {
        self.rows = rows
        leading = rows.map { TorrentQuery.leading($0.infoHash.raw) }
    }

    /// Sorts, ahead of the first page that asks, the orders `previous` was asked for, and the
    /// page's default (seeders, descending): a refreshed table is published sorted, so pages
    /// never wait for a sort the table before had. `previous` is still served while this runs,
    /// so orders first asked of it meanwhile are sorted too, until none is missing.
    func warm(like previous: TorrentTable?) {
        _ = order(.seeders, ascending: false)
        while true {
            let asked = previous?.orders.withLock { Set($0.keys) } ?? []
            let missing = asked.subtracting(orders.withLock { Set($0.keys) })
            if missing.isEmpty { return }
            for k in missing { _ = order(k.column, ascending: k.ascending) }
        }
    }

    /// Whether the order is sorted already (a page in it costs no sort).
    func hasOrder(_ column: TorrentQuery.Column, ascending: Bool) -> Bool {
        orders.withLock { $0[Key(column: column, ascending: ascending)] != nil }
    }

    /// Row indices sorted by `column` (ties by info_hash ascending, so pages never overlap).
    func order(_ column: TorrentQuery.Column, ascending: Bool) -> [Int32] {
        let key = Key(column: column, ascending: ascending)
        if let cached = orders.withLock({ $0[key] }) { return cached }
        let rows = rows
        var indices = (0..<Int32(rows.count)).map { $0 }
        indices.sort { i, j in TorrentQuery.before(rows[Int(i)], rows[Int(j)], column, ascending) }
        orders.withLock { $0[key] = indices }
        return indices
    }
}

extension TorrentQuery {
    /// The rows most one page carries, whatever `length` asks.
    static let maxLength = 500

    /// DataTables' server-side parameters: `start`, `length` (-1, "all", is capped like any
    /// other), `search[value]` (an info_hash prefix; only its hex digits count),
    /// `order[0][column]` and `order[0][dir]`. Anything missing or malformed takes the default.
    init(dataTables p: [String: String]) {
        let length = Int(p["length"] ?? "").map { $0 < 0 ? Self.maxLength : min($0, Self.maxLength) } ?? 25
        let column = Int(p["order[0][column]"] ?? "").flatMap(Column.init(rawValue:)) ?? .seeders
        self.init(
            start: Int(p["start"] ?? "") ?? 0, length: length, search: (p["search[value]"] ?? "").filter(\.isHexDigit),
            order: column, ascending: p["order[0][dir]"] == "asc")
    }
}
