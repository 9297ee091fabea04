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
    /// A private tracker's user (0 on an open tracker).
    public var user: UInt32
    /// Whether its `completed` was counted.
    public var completed: Bool

    public init(peerID: PeerID, role: PeerRole, v4: Endpoint?, v6: Endpoint?, idle: UInt32, user: UInt32 = 0, completed: Bool = false) {
        (self.peerID, self.role, self.v4, self.v6, self.idle) = (peerID, role, v4, v6, idle)
        (self.user, self.completed) = (user, completed)
    }
}
