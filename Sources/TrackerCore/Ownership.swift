/// BEP 7's `key`: a token a client sends with every announce and shares with no other peer,
/// so that a tracker can tell the client's own announces (from a new address, or from its other
/// address family) from a stranger's that reuse its peer_id, which every `compact=0` reply
/// shows.
///
/// Kept as a 32-bit FNV-1a digest of the key's bytes, never 0 (0 is "no key"): the key itself
/// is never sent to anyone, so a stranger would have to guess among 2^32 values by announcing,
/// and clients' keys carry about that much randomness anyway (libtorrent's are 32 random bits).
/// The digest is the same in every Squall, so instances sharing one Redis agree on it.
public struct PeerKey: Hashable, Sendable {
    public let value: UInt32
    public static let none = PeerKey(value: 0)

    public init(value: UInt32) { self.value = value }

    /// The digest of `bytes` (the key after percent-decoding); `none` when empty.
    public init(bytes: some Sequence<UInt8>) {
        var h: UInt32 = 0x811C_9DC5
        var any = false
        for b in bytes {
            h = (h ^ UInt32(b)) &* 0x0100_0193
            any = true
        }
        value = any ? (h == 0 ? 1 : h) : 0
    }

    public var isNone: Bool { value == 0 }

    /// True when both carry a key and it is the same one.
    public func matches(_ other: PeerKey) -> Bool { value != 0 && value == other.value }
}

/// Where a request comes from, for limits per source: one IPv4 address, or one IPv6 /64 (the
/// smallest block an IPv6 subscriber is normally given, so one host cannot dodge a limit by
/// picking new addresses inside its prefix).
public struct SourceKey: Hashable, Sendable {
    /// The IPv4 address, or the first 64 bits of the IPv6 address.
    public let bits: UInt64
    public let isIPv6: Bool

    public init(_ address: PeerAddress) {
        switch address.normalized {
        case .v4(let a): (bits, isIPv6) = (UInt64(a.value), false)
        case .v6(let a): (bits, isIPv6) = (a.high, true)
        }
    }
}

/// Per-source quotas an announce is held to, decided by the caller before the store sees it.
public struct SourceQuota: Sendable, Equatable {
    /// The most endpoints one source may hold in one torrent (0: no limit).
    public var peersPerTorrent: Int
    /// Whether this announce may create a torrent the store does not hold yet.
    public var mayCreateTorrent: Bool
    /// The most peers the announcing user may hold in one torrent (0: no limit; private mode).
    public var peersPerUser: Int
    /// Whether this announce may add a peer the torrent does not hold yet (private mode's
    /// download slots); a peer already held announces as usual.
    public var mayAddPeer: Bool

    public init(peersPerTorrent: Int = 0, mayCreateTorrent: Bool = true, peersPerUser: Int = 0, mayAddPeer: Bool = true) {
        (self.peersPerTorrent, self.mayCreateTorrent, self.peersPerUser, self.mayAddPeer) =
            (peersPerTorrent, mayCreateTorrent, peersPerUser, mayAddPeer)
    }

    public static let unlimited = SourceQuota()
}
