public import TrackerCore

/// Parses the query of `GET /announce` (BEP 3, 7, 23, 21); BEP 7's `key` is kept as its digest.
///
/// Strict where it matters (`info_hash`, `peer_id`, `port`, `left`, the counters, `event`),
/// tolerant elsewhere: unknown parameters are ignored, a non-numeric or negative `numwant` means
/// the default, and the first of repeated parameters wins.
public enum AnnounceParser {
    public static func parse(query: UnsafeRawBufferPointer) throws(TrackerFailure) -> AnnounceRequest {
        var infoHash: Bytes20?, peerID: Bytes20?
        var port: UInt16?, uploaded: UInt64?, downloaded: UInt64?, left: UInt64?
        var event: AnnounceEvent?, numwant: Int??, compact: Bool?, noPeerID: Bool?, key: UnsafeRawBufferPointer?

        try QueryString(query).forEach { (name, value) throws(TrackerFailure) in
            if name.equals("info_hash") {
                if infoHash == nil {
                    guard let v = PercentDecoding.decode20(value) else { throw .invalid("info_hash", "must be 20 bytes") }
                    infoHash = v
                }
            } else if name.equals("peer_id") {
                if peerID == nil {
                    guard let v = PercentDecoding.decode20(value) else { throw .invalid("peer_id", "must be 20 bytes") }
                    peerID = v
                }
            } else if name.equals("port") {
                if port == nil {
                    guard let v = decimal(value), v >= 1, v <= 65535 else { throw .invalid("port", "must be 1-65535") }
                    port = UInt16(v)
                }
            } else if name.equals("uploaded") {
                if uploaded == nil { uploaded = try counter("uploaded", value) }
            } else if name.equals("downloaded") {
                if downloaded == nil { downloaded = try counter("downloaded", value) }
            } else if name.equals("left") {
                if left == nil { left = try counter("left", value) }
            } else if name.equals("event") {
                if event == nil {
                    guard let e = parseEvent(value) else {
                        throw .invalid("event", "must be started, completed, stopped, paused or empty")
                    }
                    event = e
                }
            } else if name.equals("numwant") {
                if numwant == nil { numwant = .some(decimal(value).map { Int(clamping: $0) }) }
            } else if name.equals("compact") {
                if compact == nil { compact = !value.equals("0") }
            } else if name.equals("no_peer_id") {
                if noPeerID == nil { noPeerID = value.equals("1") }
            } else if name.equals("key") {
                if key == nil { key = value }
            }
            return true
        }

        guard let infoHash else { throw .missing("info_hash") }
        guard let peerID else { throw .missing("peer_id") }
        guard let port else { throw .missing("port") }
        guard let left else { throw .missing("left") }
        return AnnounceRequest(
            infoHash: InfoHash(infoHash), peerID: PeerID(peerID), port: port,
            uploaded: uploaded ?? 0, downloaded: downloaded ?? 0, left: left,
            event: event ?? AnnounceEvent.none, numwant: numwant ?? nil,
            compact: compact ?? true, noPeerID: noPeerID ?? false,
            key: key.map { peerKey($0, peerID: peerID) } ?? .none
        )
    }

    /// BEP 7's key as its digest: none when empty, or when it is the end of the peer_id. aria2
    /// sends the last 8 bytes of its peer_id as its key, and every dictionary-model reply shows
    /// peer_ids: such a key is no secret, so it proves nothing.
    static func peerKey(_ raw: UnsafeRawBufferPointer, peerID: Bytes20) -> PeerKey {
        let key = PeerKey(bytes: PercentDecoding.Decoded(raw))
        guard !key.isNone else { return key }
        var n = 0
        for _ in PercentDecoding.Decoded(raw) {
            n += 1
            if n > 20 { return key }
        }
        let public_ = peerID.withBytes { id in PercentDecoding.Decoded(raw).elementsEqual(id[(20 - n)...]) }
        return public_ ? .none : key
    }

    static func counter(_ name: String, _ value: UnsafeRawBufferPointer) throws(TrackerFailure) -> UInt64 {
        guard let v = decimal(value) else { throw .invalid(name, "must be a non-negative integer") }
        return v
    }

    static func parseEvent(_ value: UnsafeRawBufferPointer) -> AnnounceEvent? {
        if value.isEmpty { return AnnounceEvent.none }
        if value.equals("started") { return .started }
        if value.equals("completed") { return .completed }
        if value.equals("stopped") { return .stopped }
        if value.equals("paused") { return .paused }
        return nil
    }
}

/// Parses the query of `GET /scrape` (BEP 48): every `info_hash`, in order, duplicates dropped.
public enum ScrapeParser {
    /// An empty result means a full scrape was asked for.
    public static func parse(query: UnsafeRawBufferPointer, maxHashes: Int) throws(TrackerFailure) -> [InfoHash] {
        var hashes: [InfoHash] = []
        try QueryString(query).forEach { (key, value) throws(TrackerFailure) in
            guard key.equals("info_hash") else { return true }
            guard let v = PercentDecoding.decode20(value) else { throw .invalid("info_hash", "must be 20 bytes") }
            let hash = InfoHash(v)
            if !hashes.contains(hash) {
                guard hashes.count < maxHashes else { throw .tooManyHashes(max: maxHashes) }
                hashes.append(hash)
            }
            return true
        }
        return hashes
    }
}

/// A plain decimal number of at most 19 digits (fits UInt64 and Int); nil for anything else.
func decimal(_ raw: UnsafeRawBufferPointer) -> UInt64? {
    guard !raw.isEmpty, raw.count <= 19 else { return nil }
    var v: UInt64 = 0
    for b in raw {
        guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
        v = v * 10 + UInt64(b - UInt8(ascii: "0"))
    }
    return v
}
