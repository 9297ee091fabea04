public import TrackerCore

/// A site's member, as the tracker needs it (UNIT3D-Announce's user record).
public struct PrivateUser: Sendable, Equatable {
    public var id: UInt32
    public var groupID: Int32
    public var passkey: Passkey
    public var canDownload: Bool
    public var isDonor: Bool
    public var isLifetime: Bool
    /// The user's visible, active seeding and leeching peers over every torrent: set by the
    /// site (from its `peers` table) and moved by announces. Download slots are decided on
    /// `numLeeching`.
    public var numSeeding: UInt32
    public var numLeeching: UInt32

    public init(
        id: UInt32, groupID: Int32, passkey: Passkey, canDownload: Bool = true, isDonor: Bool = false, isLifetime: Bool = false,
        numSeeding: UInt32 = 0, numLeeching: UInt32 = 0
    ) {
        (self.id, self.groupID, self.passkey, self.canDownload) = (id, groupID, passkey, canDownload)
        (self.isDonor, self.isLifetime, self.numSeeding, self.numLeeching) = (isDonor, isLifetime, numSeeding, numLeeching)
    }
}

/// A user group: its slug decides whether its members may announce at all.
public struct PrivateGroup: Sendable, Equatable {
    public var id: Int32
    public var slug: String
    /// The most torrents a member may leech at once; nil: no limit.
    public var downloadSlots: UInt32?
    public var isImmune: Bool
    public var isFreeleech: Bool
    public var isDoubleUpload: Bool

    public init(
        id: Int32, slug: String, downloadSlots: UInt32? = nil, isImmune: Bool = false, isFreeleech: Bool = false,
        isDoubleUpload: Bool = false
    ) {
        (self.id, self.slug, self.downloadSlots) = (id, slug, downloadSlots)
        (self.isImmune, self.isFreeleech, self.isDoubleUpload) = (isImmune, isFreeleech, isDoubleUpload)
    }

    /// Percent of the download that counts: 0 for a freeleech group.
    public var downloadFactor: UInt8 { isFreeleech ? 0 : 100 }
    /// Percent of the upload that counts: 200 for a double-upload group.
    public var uploadFactor: UInt8 { isDoubleUpload ? 200 : 100 }
    /// Whether members may announce: the slugs `banned`, `validating` and `disabled` are refused
    /// (`Your account is not enabled.`). Read on every announce: three comparisons of small
    /// strings, not a hash of the slug.
    public var isEnabled: Bool {
        switch slug {
        case "banned", "validating", "disabled": false
        default: true
        }
    }
}

/// A torrent's moderation state (UNIT3D's `torrents.status`).
public enum TorrentStatus: Sendable, Equatable {
    case pending, approved, rejected, postponed
    /// Any other number: refused with `Torrent not approved.`
    case unknown

    /// UNIT3D's smallint: 0 pending, 1 approved, 2 rejected, 3 postponed.
    public init(code: Int) {
        switch code {
        case 0: self = .pending
        case 1: self = .approved
        case 2: self = .rejected
        case 3: self = .postponed
        default: self = .unknown
        }
    }

    /// The name the site API's `GET /torrents/{id}` returns.
    public var name: String {
        switch self {
        case .pending: "Pending"
        case .approved: "Approved"
        case .rejected: "Rejected"
        case .postponed: "Postponed"
        case .unknown: "Unknown"
        }
    }
}

/// A torrent the site knows. A BEP 52 hybrid torrent has both hashes; either finds it, and it
/// is one torrent for the rules and the accounting.
public struct PrivateTorrent: Sendable, Equatable {
    public var id: UInt32
    public var status: TorrentStatus
    public var isDeleted: Bool
    /// The v1 info_hash (SHA-1 of the info dictionary).
    public var infoHash: InfoHash
    /// The v2 info_hash truncated to 20 bytes, for a hybrid or v2-only torrent.
    public var infoHashV2: InfoHash?
    public var seeders: UInt32
    public var leechers: UInt32
    public var timesCompleted: UInt32
    /// Percent of the download that counts (100 - freeleech percent).
    public var downloadFactor: UInt8
    /// Percent of the upload that counts (200 for double upload).
    public var uploadFactor: UInt8

    public init(
        id: UInt32, status: TorrentStatus = .approved, isDeleted: Bool = false, infoHash: InfoHash, infoHashV2: InfoHash? = nil,
        seeders: UInt32 = 0, leechers: UInt32 = 0, timesCompleted: UInt32 = 0, downloadFactor: UInt8 = 100, uploadFactor: UInt8 = 100
    ) {
        (self.id, self.status, self.isDeleted, self.infoHash, self.infoHashV2) = (id, status, isDeleted, infoHash, infoHashV2)
        (self.seeders, self.leechers, self.timesCompleted) = (seeders, leechers, timesCompleted)
        (self.downloadFactor, self.uploadFactor) = (downloadFactor, uploadFactor)
    }
}

/// A (user, torrent) pair: the key of freeleech tokens (and of the accounting's history rows).
public struct UserTorrent: Hashable, Sendable {
    public var user: UInt32
    public var torrent: UInt32
    public init(user: UInt32, torrent: UInt32) { (self.user, self.torrent) = (user, torrent) }
    /// One word into the hasher, not two (it is looked up several times per announce).
    public func hash(into h: inout Hasher) { h.combine(UInt64(user) << 32 | UInt64(torrent)) }
}
