/// The site-wide factors and the donor overrides (UNIT3D-Announce's `UPLOAD_FACTOR`,
/// `DOWNLOAD_FACTOR`, `DONOR_*` and `LIFETIME_DONOR_*`), in percent.
public struct FactorSettings: Sendable, Equatable {
    public var upload: UInt8 = 100
    public var download: UInt8 = 100
    public var donorUpload: UInt8? = nil
    public var donorDownload: UInt8? = nil
    public var donorImmunity: Bool? = nil
    public var lifetimeUpload: UInt8? = nil
    public var lifetimeDownload: UInt8? = nil
    public var lifetimeImmunity: Bool? = nil

    public init() {}
}

/// What one announce's deltas are credited at (percent), and whether the user is immune to
/// hit-and-run on it (`history.immune`).
public struct Factors: Sendable, Equatable {
    public var upload: UInt8
    public var download: UInt8
    public var immune: Bool

    public init(upload: UInt8, download: UInt8, immune: Bool) { (self.upload, self.download, self.immune) = (upload, download, immune) }

    /// UNIT3D-Announce's factors, in its order (contract §5.5, §5.6): the largest upload and
    /// the smallest download of the site's, the group's and the torrent's; the lifetime donor's
    /// overrides, else the donor's; no download for a personal freeleech, a freeleech token or a
    /// featured torrent; exactly 200 % upload on a featured torrent.
    public init(user: PrivateUser, group: PrivateGroup, torrent: PrivateTorrent, registry: Registry, settings: FactorSettings) {
        var upload = max(settings.upload, group.uploadFactor, torrent.uploadFactor)
        var download = min(settings.download, group.downloadFactor, torrent.downloadFactor)
        var immune = group.isImmune
        if user.isLifetime {
            if let u = settings.lifetimeUpload { upload = max(upload, u) }
            if let d = settings.lifetimeDownload { download = min(download, d) }
            if let i = settings.lifetimeImmunity { immune = i }
        } else if user.isDonor {
            if let u = settings.donorUpload { upload = max(upload, u) }
            if let d = settings.donorDownload { download = min(download, d) }
            if let i = settings.donorImmunity { immune = i }
        }
        let featured = registry.featuredTorrents.contains(torrent.id)
        if registry.personalFreeleech.contains(user.id) || featured
            || registry.freeleechTokens.contains(UserTorrent(user: user.id, torrent: torrent.id))
        {
            download = 0
        }
        if featured { upload = 200 }
        self.init(upload: upload, download: download, immune: immune)
    }

    /// `delta` credited at `percent`: floor(delta x percent / 100), as UNIT3D-Announce's
    /// unsigned integer division, saturating at UInt64.max where the product would not fit (a
    /// client may report any counter; it must never trap).
    public static func credit(_ delta: UInt64, percent: UInt8) -> UInt64 {
        let p = UInt64(percent)
        let (whole, overflow) = (delta / 100).multipliedReportingOverflow(by: p)
        guard !overflow else { return .max }
        let (sum, over) = whole.addingReportingOverflow((delta % 100) * p / 100)
        return over ? .max : sum
    }
}
