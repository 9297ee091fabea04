/// One change to the registry: what one call of the site's API means (UNIT3D-Announce's
/// routes), and what instances sharing a Redis pass each other. Each change is a whole record
/// or a set membership, so applying one twice leaves what applying it once did.
public enum RegistryChange: Sendable, Equatable {
    /// `PUT /torrents`: replaces the torrent (or creates it) and maps its hashes to it. The
    /// counts are the site's.
    case putTorrent(PrivateTorrent)
    /// `DELETE /torrents`: flags it deleted; it stays known, so announces are told so.
    case deleteTorrent(id: UInt32)
    /// `PUT /users`: replaces the user (or creates it), keyed by `user.passkey`; `replacing`
    /// is the passkey it had (the site's `passkey` when it sends `new_passkey`), which stops
    /// working.
    case putUser(PrivateUser, replacing: Passkey?)
    /// `DELETE /users`: removes the user and that passkey.
    case deleteUser(id: UInt32, passkey: Passkey)
    case putGroup(PrivateGroup)
    case deleteGroup(id: Int32)
    /// A peer_id prefix refused with `Client is not acceptable.`
    case putBlacklistedAgent(prefix: [UInt8])
    case deleteBlacklistedAgent(prefix: [UInt8])
    case putFreeleechToken(UserTorrent)
    case deleteFreeleechToken(UserTorrent)
    case putPersonalFreeleech(user: UInt32)
    case deletePersonalFreeleech(user: UInt32)
    case putFeaturedTorrent(id: UInt32)
    case deleteFeaturedTorrent(id: UInt32)
}

/// Why a change was refused; the registry is left as it was.
public enum RegistryChangeError: Error, Sendable, Equatable {
    /// `DELETE /torrents` for an id the registry does not hold (UNIT3D-Announce answers 400).
    case unknownTorrent(UInt32)
}
