public import TrackerCore

/// What a request asks for, read once from its head's path: the router dispatches on it and the
/// metrics label it, so the two can never disagree. Queries are not parsed here (see
/// `AnnounceParser`, `ScrapeParser`): the head keeps them.
public enum TrackerRequest: Sendable, Equatable {
    /// `/announce` with a query.
    case announce
    /// `/scrape`, with hashes or without (a full scrape).
    case scrape
    /// An announce naming a passkey in one of the configured `PasskeyForms`; the passkey is
    /// percent-decoded, any length (the private rules judge it).
    case privateAnnounce(passkey: [UInt8])
    /// A scrape at the `/scrape` form matching an announce form.
    case privateScrape(passkey: [UInt8])
    /// `/health`: liveness (the process serves).
    case health
    /// `/ready`: readiness (the store answers).
    case ready
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

    /// Reads `head`'s path (the method is the router's concern); `passkeys` are the forms a
    /// private tracker takes (none: an open tracker).
    public init(_ head: HTTPRequestHead, passkeys: PasskeyForms = []) {
        let path = head.path
        func equals(_ s: StaticString) -> Bool {
            s.withUTF8Buffer { path.elementsEqual($0) }
        }
        if !passkeys.isEmpty, let request = Self.privateRequest(head, forms: passkeys) {
            self = request
        } else if equals("/announce") {
            self = head.query.isEmpty ? .redirect(.announcePage) : .announce
        } else if equals("/scrape") {
            self = .scrape
        } else if equals("/health") {
            self = .health
        } else if equals("/ready") {
            self = .ready
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

    /// The private forms: `/announce/KEY` and `/scrape/KEY`, `/KEY/announce` and `/KEY/scrape`,
    /// `/announce?passkey=KEY` and `/scrape?passkey=KEY`. A passkey segment holds no `/`.
    private static func privateRequest(_ head: HTTPRequestHead, forms: PasskeyForms) -> TrackerRequest? {
        let path = head.path
        func make(_ isAnnounce: Bool, _ key: [UInt8]) -> TrackerRequest {
            isAnnounce ? .privateAnnounce(passkey: key) : .privateScrape(passkey: key)
        }
        for (v, isAnnounce) in Self.verbs {
            if forms.contains(.pathAfter), path.count > v.count + 1, path.starts(with: v), path[path.startIndex + v.count] == 0x2F {
                let segment = path.dropFirst(v.count + 1)
                if !segment.contains(0x2F) { return make(isAnnounce, decoded(segment)) }
            }
            if forms.contains(.pathBefore), path.count > v.count + 1, path.first == 0x2F, path.suffix(v.count).elementsEqual(v) {
                let segment = path.dropFirst().dropLast(v.count)
                if !segment.isEmpty, !segment.contains(0x2F) { return make(isAnnounce, decoded(segment)) }
            }
            if forms.contains(.query), path.elementsEqual(v), let key = queryPasskey(head.query) {
                return make(isAnnounce, key)
            }
        }
        return nil
    }

    private static let verbs: [([UInt8], Bool)] = [(Array("/announce".utf8), true), (Array("/scrape".utf8), false)]

    private static func decoded(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        raw.withUnsafeBytes { Array(PercentDecoding.Decoded($0)) }
    }

    /// The last `passkey=` of a query, decoded.
    private static func queryPasskey(_ query: ArraySlice<UInt8>) -> [UInt8]? {
        var found: [UInt8]?
        query.withUnsafeBytes { raw in
            try? QueryString(raw).forEach { (key, value) throws(TrackerFailure) in
                if key.equals("passkey") { found = Array(PercentDecoding.Decoded(value)) }
                return true
            }
        }
        return found
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

/// Where a private tracker's URLs carry the passkey (`private.passkey_forms`).
public struct PasskeyForms: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `/announce/PASSKEY` (UNIT3D).
    public static let pathAfter = PasskeyForms(rawValue: 1)
    /// `/PASSKEY/announce` (Gazelle, Ocelot, XBT).
    public static let pathBefore = PasskeyForms(rawValue: 2)
    /// `/announce?passkey=PASSKEY` (HDBits-style).
    public static let query = PasskeyForms(rawValue: 4)

    /// The configuration's names for the forms.
    public static let names: [(String, PasskeyForms)] = [
        ("/announce/{passkey}", .pathAfter), ("/{passkey}/announce", .pathBefore), ("/announce?passkey={passkey}", .query),
    ]
}
