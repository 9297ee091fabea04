/// One torrent as the statistics table shows it.
public struct TorrentRow: Sendable, Equatable {
    public var infoHash: InfoHash
    public var seeders: Int
    public var leechers: Int
    /// Downloads counted (`event=completed`, once per peer).
    public var completed: Int
    /// Peers with an IPv4 endpoint, and with an IPv6 one.
    public var ipv4: Int
    public var ipv6: Int
    /// Seconds since the last announce to this torrent.
    public var idle: UInt32

    public init(infoHash: InfoHash, seeders: Int, leechers: Int, completed: Int, ipv4: Int, ipv6: Int, idle: UInt32) {
        (self.infoHash, self.seeders, self.leechers, self.completed) = (infoHash, seeders, leechers, completed)
        (self.ipv4, self.ipv6, self.idle) = (ipv4, ipv6, idle)
    }
}

/// One peer of a torrent, for the statistics' detail view.
public struct PeerRow: Sendable, Equatable {
    public var peerID: PeerID
    public var role: PeerRole
    public var v4: Endpoint?
    public var v6: Endpoint?
    /// Seconds since the peer's last announce (over either family).
    public var idle: UInt32

    public init(peerID: PeerID, role: PeerRole, v4: Endpoint?, v6: Endpoint?, idle: UInt32) {
        (self.peerID, self.role, self.v4, self.v6, self.idle) = (peerID, role, v4, v6, idle)
    }
}

/// A page of the torrents table: what DataTables' server-side mode asks for.
public struct TorrentQuery: Sendable, Equatable {
    public enum Column: Int, Sendable, CaseIterable {
        case infoHash, seeders, leechers, completed, ipv4, ipv6, idle
    }
    public var start: Int
    public var length: Int
    /// Lower-case hexadecimal the info_hash must start with; empty matches every torrent.
    public var search: String
    public var order: Column
    public var ascending: Bool

    public init(start: Int = 0, length: Int = 25, search: String = "", order: Column = .seeders, ascending: Bool = false) {
        (self.start, self.length, self.search, self.order, self.ascending) = (max(0, start), max(0, length), search, order, ascending)
    }

    /// Filters `rows` by the search prefix, sorts them by the column (ties by info_hash, so
    /// pages never overlap), and cuts the page. Only the page is sorted in full: the rest is
    /// partitioned around it, O(n + page log page).
    public func run(on rows: [TorrentRow]) -> TorrentPage {
        let prefix = Array(search.lowercased().utf8)
        let filtered = prefix.isEmpty ? rows : rows.filter { Array($0.infoHash.raw.hex.utf8).starts(with: prefix) }
        let (order, ascending) = (order, ascending)
        let before: (TorrentRow, TorrentRow) -> Bool = { a, b in
            let (x, y) = ascending ? (a, b) : (b, a)
            if order == .infoHash { return Self.hashBefore(x.infoHash.raw, y.infoHash.raw) }
            let k = Self.key(x, order), l = Self.key(y, order)
            if k != l { return k < l }
            return Self.hashBefore(a.infoHash.raw, b.infoHash.raw)
        }
        guard start < filtered.count, length > 0 else { return TorrentPage(total: rows.count, filtered: filtered.count, rows: []) }
        let end = min(filtered.count, start + length)
        // A partial selection: a full sort of 100,000 rows per page would be wasteful.
        let page: [TorrentRow] =
            end * 4 < filtered.count
            ? Array(Self.smallest(end, of: filtered, by: before)[start..<end])
            : Array(filtered.sorted(by: before)[start..<end])
        return TorrentPage(total: rows.count, filtered: filtered.count, rows: page)
    }

    /// Byte order (as the hex strings sort), without making the strings.
    private static func hashBefore(_ a: Bytes20, _ b: Bytes20) -> Bool {
        for (x, y) in [(a.w0, b.w0), (a.w1, b.w1), (a.w2, b.w2), (a.w3, b.w3), (a.w4, b.w4)] where x != y {
            return UInt32(bigEndian: x) < UInt32(bigEndian: y)
        }
        return false
    }

    private static func key(_ r: TorrentRow, _ c: Column) -> Int {
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

    /// The `k` first rows in `before` order, sorted, keeping a sorted buffer of at most `k`.
    private static func smallest(_ k: Int, of rows: [TorrentRow], by before: (TorrentRow, TorrentRow) -> Bool) -> [TorrentRow] {
        var best: [TorrentRow] = []
        best.reserveCapacity(k + 1)
        for r in rows {
            if best.count == k, let last = best.last, !before(r, last) { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(best[mid], r) { lo = mid + 1 } else { hi = mid }
            }
            best.insert(r, at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

/// A page of the torrents table and the counts DataTables shows under it.
public struct TorrentPage: Sendable, Equatable {
    public var total: Int
    public var filtered: Int
    public var rows: [TorrentRow]
    public init(total: Int, filtered: Int, rows: [TorrentRow]) { (self.total, self.filtered, self.rows) = (total, filtered, rows) }
}
