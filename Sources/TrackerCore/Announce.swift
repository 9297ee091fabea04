/// The `event` parameter of an announce (BEP 3, plus BEP 21's `paused`).
public enum AnnounceEvent: String, Sendable, CaseIterable {
    case none = ""
    case started, completed, stopped, paused
}

/// What a client asked for in `GET /announce`, after parsing and validation.
public struct AnnounceRequest: Sendable, Equatable {
    public var infoHash: InfoHash
    public var peerID: PeerID
    public var port: UInt16
    public var uploaded: UInt64
    public var downloaded: UInt64
    public var left: UInt64
    public var event: AnnounceEvent
    /// nil when the client sent no `numwant` (the tracker's default applies).
    public var numwant: Int?
    /// BEP 23: compact lists unless the client sent `compact=0`.
    public var compact: Bool
    public var noPeerID: Bool
    /// BEP 7's `key`, as its digest (`none` when the client sent none).
    public var key: PeerKey

    public init(
        infoHash: InfoHash, peerID: PeerID, port: UInt16, uploaded: UInt64 = 0, downloaded: UInt64 = 0,
        left: UInt64, event: AnnounceEvent = .none, numwant: Int? = nil, compact: Bool = true, noPeerID: Bool = false,
        key: PeerKey = .none
    ) {
        self.infoHash = infoHash
        self.peerID = peerID
        self.port = port
        self.uploaded = uploaded
        self.downloaded = downloaded
        self.left = left
        self.event = event
        self.numwant = numwant
        self.compact = compact
        self.noPeerID = noPeerID
        self.key = key
    }
}

/// One peer handed to a client: its id and whichever endpoints the tracker knows for it.
public struct SwarmPeer: Sendable, Equatable {
    public var peerID: PeerID
    public var v4: Endpoint?
    public var v6: Endpoint?
    /// A private tracker's user of the peer (0 on an open tracker); never sent to clients.
    public var user: UInt32
    public init(peerID: PeerID, v4: Endpoint? = nil, v6: Endpoint? = nil, user: UInt32 = 0) {
        (self.peerID, self.v4, self.v6, self.user) = (peerID, v4, v6, user)
    }
}

/// The tracker's answer to an announce, before encoding.
public struct AnnounceResponse: Sendable, Equatable {
    public var interval: Int
    public var minInterval: Int
    public var complete: Int
    public var incomplete: Int
    public var downloaded: Int
    public var peers: [SwarmPeer]
    /// BEP 24: the address the request came from.
    public var externalIP: PeerAddress
    public var compact: Bool
    public var noPeerID: Bool
    /// BEP 3's `warning message` (a private tracker's), sent with a compact reply.
    public var warning: String?

    public init(
        interval: Int, minInterval: Int, complete: Int, incomplete: Int, downloaded: Int, peers: [SwarmPeer],
        externalIP: PeerAddress, compact: Bool, noPeerID: Bool, warning: String? = nil
    ) {
        self.interval = interval
        self.minInterval = minInterval
        self.complete = complete
        self.incomplete = incomplete
        self.downloaded = downloaded
        self.peers = peers
        self.externalIP = externalIP
        self.compact = compact
        self.noPeerID = noPeerID
        self.warning = warning
    }
}

/// Per-torrent figures for scrape (BEP 48, with BEP 21's `downloaders`).
public struct ScrapeEntry: Sendable, Equatable {
    public var complete: Int
    public var incomplete: Int
    public var downloaded: Int
    /// Leechers that are not partial seeds.
    public var downloaders: Int
    public init(complete: Int, incomplete: Int, downloaded: Int, downloaders: Int) {
        (self.complete, self.incomplete, self.downloaded, self.downloaders) = (complete, incomplete, downloaded, downloaders)
    }
}

/// Whole-tracker counts.
public struct SwarmTotals: Sendable, Equatable {
    public var torrents: Int
    public var peers: Int
    public var seeders: Int
    public var leechers: Int
    /// Peers with an IPv4 endpoint, and with an IPv6 one (a dual-stack peer counts in both).
    public var ipv4Endpoints: Int
    public var ipv6Endpoints: Int
    public init(torrents: Int = 0, peers: Int = 0, seeders: Int = 0, leechers: Int = 0, ipv4Endpoints: Int = 0, ipv6Endpoints: Int = 0) {
        (self.torrents, self.peers, self.seeders, self.leechers) = (torrents, peers, seeders, leechers)
        (self.ipv4Endpoints, self.ipv6Endpoints) = (ipv4Endpoints, ipv6Endpoints)
    }
    /// Peers reachable over IPv4 only, IPv6 only, and both.
    public var ipv4Only: Int { peers - ipv6Endpoints }
    public var ipv6Only: Int { peers - ipv4Endpoints }
    public var dualStack: Int { ipv4Endpoints + ipv6Endpoints - peers }
}
