import TrackerCore
import TrackerProtocol

/// A reply ready to be written: status, content type, body and whether to close afterwards.
public struct HTTPReply: Sendable {
    public var status: Int
    public var contentType: StaticString
    public var body: [UInt8]
    public var extraHeaders: [String]
    public var close: Bool
    /// What the metrics count this reply as; 4xx and 5xx statuses count as rejected.
    var outcome = TrackerMetrics.Outcome.ok

    public init(status: Int, contentType: StaticString = "text/plain", body: [UInt8], extraHeaders: [String] = [], close: Bool = false) {
        (self.status, self.contentType, self.body, self.extraHeaders, self.close) = (status, contentType, body, extraHeaders, close)
    }

    static func text(_ status: Int, _ text: String, close: Bool = false, extraHeaders: [String] = []) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8), extraHeaders: extraHeaders,
            close: close)
    }
    /// Bulk work full or stopping: try again in a second.
    static var busy: HTTPReply { text(503, "busy, retry later", extraHeaders: ["Retry-After: 1"]) }

    static func redirect(_ status: Int, to location: String) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "text/plain; charset=utf-8", body: Array("see \(location)\n".utf8),
            extraHeaders: ["Location: \(location)"])
    }
    /// A bencoded tracker reply (always 200, failures included, as BEP 3 says).
    static func bencoded(_ w: BencodeWriter) -> HTTPReply {
        HTTPReply(status: 200, contentType: "text/plain", body: w.bytes)
    }
    static func failure(_ f: TrackerFailure, unavailable: Bool = false) -> HTTPReply {
        var w = BencodeWriter(capacity: 64)
        ResponseEncoding.failure(f, into: &w)
        var r = bencoded(w)
        r.outcome = unavailable ? .unavailable : .failure
        return r
    }
    static func json(_ text: String, status: Int = 200) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "application/json", body: Array(text.utf8),
            extraHeaders: ["Cache-Control: no-store", "X-Content-Type-Options: nosniff"])
    }

    /// The reply to a request the store could not serve, counted in the metrics; an outage also
    /// goes to the outage log.
    static func storeFailed(_ e: StoreError, metrics: TrackerMetrics, outages: OutageLog) -> HTTPReply {
        metrics.storeError(e)
        guard case .unavailable(let why) = e else { return .failure(e.failure) }
        outages.failed(why)
        return .failure(e.failure, unavailable: true)
    }
}
