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

    /// What the client is told.
    public var failure: TrackerFailure {
        switch self {
        case .full(let why): TrackerFailure(why)
        case .unavailable: TrackerFailure("storage unavailable, retry later")
        }
    }
}
