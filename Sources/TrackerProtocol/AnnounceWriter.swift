public import TrackerCore

extension AnnounceRequest {
    /// The query of `GET /announce` that `AnnounceParser` reads back as this request: every
    /// field, the bytes percent-encoded. A request keeps only its key's digest, so the key to
    /// send is passed in (`key` of the parsed request is then the digest of `key`, or none when
    /// it is the end of the peer_id, as aria2 sends it). `everyByte` encodes every byte of the
    /// hash and the peer_id as `%XX`, as libtorrent does.
    public func query(key: [UInt8]? = nil, everyByte: Bool = false) -> String {
        let hash = PercentDecoding.encode(infoHash.raw.bytes, everyByte: everyByte)
        var q = "info_hash=\(hash)&peer_id=\(PercentDecoding.encode(peerID.raw.bytes, everyByte: everyByte))"
        q += "&port=\(port)&uploaded=\(uploaded)&downloaded=\(downloaded)&left=\(left)"
        if event != .none { q += "&event=\(event.rawValue)" }
        if let numwant { q += "&numwant=\(numwant)" }
        q += compact ? "&compact=1" : "&compact=0"
        if noPeerID { q += "&no_peer_id=1" }
        if let key, !key.isEmpty { q += "&key=\(PercentDecoding.encode(key))" }
        return q
    }
}
