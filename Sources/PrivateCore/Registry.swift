public import TrackerCore

/// What a private tracker knows about its site: users by passkey, groups, torrents by either
/// hash, and the lists that change the rules (blacklisted clients, freeleech, featured).
/// Indexed for the announce path: every lookup is one hash-table probe.
///
/// A value type: the server keeps one behind a lock, applies `RegistryChange`s to it, and reads
/// what an announce needs in one short critical section.
public struct Registry: Sendable {
    public private(set) var users: [UInt32: PrivateUser] = [:]
    /// Passkey to user id. Several passkeys may name one user (UNIT3D-Announce keeps an old one
    /// working until the site sends `new_passkey` or deletes it).
    public private(set) var passkeys: [Passkey: UInt32] = [:]
    public private(set) var groups: [Int32: PrivateGroup] = [:]
    public private(set) var torrents: [UInt32: PrivateTorrent] = [:]
    /// Both hashes of a hybrid torrent map to its id.
    public private(set) var hashes: [InfoHash: UInt32] = [:]
    public private(set) var blacklistedAgents: Set<[UInt8]> = []
    /// The distinct lengths of the blacklisted prefixes, so a check costs one probe per length.
    private var prefixLengths: [Int] = []
    public private(set) var freeleechTokens: Set<UserTorrent> = []
    public private(set) var personalFreeleech: Set<UInt32> = []
    public private(set) var featuredTorrents: Set<UInt32> = []

    public init() {}

    // MARK: lookups

    public func user(passkey: Passkey) -> PrivateUser? {
        guard let id = passkeys[passkey] else { return nil }
        return users[id]
    }

    public func torrent(hash: InfoHash) -> PrivateTorrent? {
        guard let id = hashes[hash] else { return nil }
        return torrents[id]
    }

    /// Whether `peerID` starts with a blacklisted prefix (an empty prefix matches every client).
    public func isBlacklisted(_ peerID: PeerID) -> Bool {
        guard !prefixLengths.isEmpty else { return false }
        return peerID.raw.withBytes { raw in
            prefixLengths.contains { blacklistedAgents.contains(Array(raw.prefix($0))) }
        }
    }

    // MARK: changes

    public mutating func apply(_ change: RegistryChange) throws(RegistryChangeError) {
        switch change {
        case .putTorrent(let t):
            if let old = torrents[t.id] {
                // A hash the torrent no longer has stops naming it (UNIT3D-Announce keeps it).
                for h in [old.infoHash, old.infoHashV2].compactMap({ $0 })
                where h != t.infoHash && h != t.infoHashV2 && hashes[h] == t.id {
                    hashes[h] = nil
                }
            }
            torrents[t.id] = t
            hashes[t.infoHash] = t.id
            if let v2 = t.infoHashV2 { hashes[v2] = t.id }
        case .deleteTorrent(let id):
            guard torrents[id] != nil else { throw .unknownTorrent(id) }
            torrents[id]!.isDeleted = true
        case .putUser(let u, let replacing):
            if let replacing, passkeys[replacing] == u.id { passkeys[replacing] = nil }
            users[u.id] = u
            passkeys[u.passkey] = u.id
        case .deleteUser(let id, let passkey):
            users[id] = nil
            if passkeys[passkey] == id { passkeys[passkey] = nil }
        case .putGroup(let g):
            groups[g.id] = g
        case .deleteGroup(let id):
            groups[id] = nil
        case .putBlacklistedAgent(let prefix):
            blacklistedAgents.insert(Array(prefix.prefix(20)))
            prefixLengths = Set(blacklistedAgents.map(\.count)).sorted()
        case .deleteBlacklistedAgent(let prefix):
            blacklistedAgents.remove(Array(prefix.prefix(20)))
            prefixLengths = Set(blacklistedAgents.map(\.count)).sorted()
        case .putFreeleechToken(let pair): freeleechTokens.insert(pair)
        case .deleteFreeleechToken(let pair): freeleechTokens.remove(pair)
        case .putPersonalFreeleech(let user): personalFreeleech.insert(user)
        case .deletePersonalFreeleech(let user): personalFreeleech.remove(user)
        case .putFeaturedTorrent(let id): featuredTorrents.insert(id)
        case .deleteFeaturedTorrent(let id): featuredTorrents.remove(id)
        }
    }

    /// Moves a user's seeding and leeching counts by what an announce changed (clamped at 0).
    public mutating func adjustCounts(user id: UInt32, seeding: Int, leeching: Int) {
        guard var u = users[id] else { return }
        u.numSeeding = UInt32(clamping: Int(u.numSeeding) + seeding)
        u.numLeeching = UInt32(clamping: Int(u.numLeeching) + leeching)
        users[id] = u
    }

    /// Sizes, for `/stats.json` and the startup log line.
    public var counts: (users: Int, passkeys: Int, groups: Int, torrents: Int) {
        (users.count, passkeys.count, groups.count, torrents.count)
    }
}
