/// A mistake the client made, or a refusal the tracker states to it.
///
/// Written to the client as a bencoded `failure reason` with HTTP 200, as BEP 3 says. The text
/// never includes secrets or raw client bytes: it names the parameter and the rule.
public struct TrackerFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }

    public static func missing(_ parameter: String) -> TrackerFailure {
        TrackerFailure("missing parameter: \(parameter)")
    }
    public static func invalid(_ parameter: String, _ rule: String) -> TrackerFailure {
        TrackerFailure("invalid parameter \(parameter): \(rule)")
    }
    public static let fullScrapeDisabled = TrackerFailure("full scrape is disabled; pass info_hash")
    public static func tooManyHashes(max: Int) -> TrackerFailure {
        TrackerFailure("too many info_hash parameters (at most \(max))")
    }
}

/// Why a store could not carry out a verb.
public enum StoreError: Error, Sendable, Equatable {
    /// A configured bound was reached (max torrents, max peers per torrent); told to the client.
    case full(String)
    /// The backing database cannot be reached; the client should retry later.
    case unavailable(String)
    /// A per-source quota refused the announce (see `SourceQuota`); told to the client.
    case quota(String)
    /// A bulk verb (totals, rows, expire...) stopped because its task was cancelled: the
    /// tracker is shutting down.
    case cancelled

    /// The text of a refusal for `SourceQuota.peersPerTorrent`.
    public static func tooManyPeersFromSource(max: Int) -> StoreError {
        .quota("too many peers from your address in this torrent (at most \(max))")
    }
    /// The refusal past `SourceQuota.peersPerUser` (UNIT3D-Announce's text).
    public static func tooManyPeersForUser(max: Int) -> StoreError {
        .quota("You already have \(max) peers on this torrent. Ignoring.")
    }
    /// The refusal of a new peer when `SourceQuota.mayAddPeer` is false (UNIT3D-Announce's
    /// download-slot text; a private tracker sends it as a warning).
    public static let noNewPeer = StoreError.quota("Download slot limit reached")
    /// The refusal when `SourceQuota.mayCreateTorrent` is false.
    public static let tooManyNewTorrents = StoreError.quota("too many new torrents from your address; retry in a minute")

    /// Throws `.cancelled` when the current task is cancelled: bulk verbs call it between
    /// their steps (shards, buckets, chunks, torrents).
    public static func checkCancellation() throws(StoreError) {
        if Task.isCancelled { throw .cancelled }
    }

    /// What the client is told.
    public var failure: TrackerFailure {
        switch self {
        case .full(let why), .quota(let why): TrackerFailure(why)
        case .unavailable: TrackerFailure("storage unavailable, retry later")
        case .cancelled: TrackerFailure("tracker shutting down, retry later")
        }
    }
}
