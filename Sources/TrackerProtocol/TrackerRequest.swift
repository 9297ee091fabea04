public import TrackerCore

/// What a request asks for, read once from its head's path: the router dispatches on it and the
/// metrics label it, so the two can never disagree. Queries are not parsed here (see
/// `AnnounceParser`, `ScrapeParser`): the head keeps them.
public enum TrackerRequest: Sendable, Equatable {
    /// `/announce` with a query.
    case announce
    /// `/scrape`, with hashes or without (a full scrape).
    case scrape
    case health
    /// Prometheus' exposition at `/metrics`, behind the statistics' access rule.
    case metrics
    /// The statistics: the page and what its scripts read, behind their access rule.
    case stats(Stats)
    /// A path that moved: `/announce` without a query (a browser) and BitStorm's `/stats.php`.
    case redirect(Redirect)
    /// `/`: one line naming the tracker.
    case root
    case notFound

    public enum Stats: Sendable, Equatable {
        /// `/stats`: the page.
        case page
        /// `/stats.json`: the summary.
        case summary
        /// `/stats/history.json`: the charts' samples.
        case history
        /// `/stats/torrents.json`: one page of the table (DataTables' parameters in the query).
        case torrents
        /// `/stats/torrents/HEX.json`: one torrent's peers.
        case torrent(InfoHash)
        /// `/stats/assets/NAME`: a script, a stylesheet or a listed Debian file.
        case asset(String)
        /// Any other path under `/stats/`: not found, after the access rule.
        case unknown
    }

    public enum Redirect: Sendable, Equatable {
        /// `/announce` without a query: 302 to `/stats`.
        case announcePage
        /// BitStorm's `/stats.php`: 301 to `/stats`. A statistics path, behind their access rule.
        case legacyStats

        public var status: Int { self == .announcePage ? 302 : 301 }
        public var location: String { "/stats" }
    }

    /// Reads `head`'s path (the method is the router's concern).
    public init(_ head: HTTPRequestHead) {
        let path = head.path
        func equals(_ s: StaticString) -> Bool {
            s.withUTF8Buffer { path.elementsEqual($0) }
        }
        if equals("/announce") {
            self = head.query.isEmpty ? .redirect(.announcePage) : .announce
        } else if equals("/scrape") {
            self = .scrape
        } else if equals("/health") {
            self = .health
        } else if equals("/metrics") {
            self = .metrics
        } else if equals("/stats") {
            self = .stats(.page)
        } else if equals("/stats.json") {
            self = .stats(.summary)
        } else if equals("/stats.php") {
            self = .redirect(.legacyStats)
        } else if equals("/") {
            self = .root
        } else if path.starts(with: "/stats/".utf8) {
            self = .stats(Self.stats(path.dropFirst("/stats/".utf8.count)))
        } else {
            self = .notFound
        }
    }

    /// `rest` is the path after `/stats/`.
    private static func stats(_ rest: ArraySlice<UInt8>) -> Stats {
        if rest.elementsEqual("history.json".utf8) { return .history }
        if rest.elementsEqual("torrents.json".utf8) { return .torrents }
        if rest.starts(with: "assets/".utf8) {
            return .asset(String(decoding: rest.dropFirst("assets/".utf8.count), as: UTF8.self))
        }
        let torrents = "torrents/".utf8.count
        if rest.starts(with: "torrents/".utf8), rest.count == torrents + 45, rest.suffix(5).elementsEqual(".json".utf8),
            let raw = Bytes20(hex: String(decoding: rest.dropFirst(torrents).dropLast(5), as: UTF8.self))
        {
            return .torrent(InfoHash(raw))
        }
        return .unknown
    }

    /// Behind the statistics' access rule (`stats.enabled`, `stats.allow`, `stats.hosts`, the token).
    public var isStatistics: Bool {
        switch self {
        case .metrics, .stats, .redirect(.legacyStats): true
        default: false
        }
    }
}
