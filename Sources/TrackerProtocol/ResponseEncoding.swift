public import TrackerCore

/// Encodes tracker replies as bencoded bodies, keys in sorted order.
public enum ResponseEncoding {
    /// An announce reply: compact (`peers` 6-byte and `peers6` 18-byte entries, BEP 23 and 7)
    /// or the dictionary model, plus BEP 24's `external ip`.
    public static func announce(_ r: AnnounceResponse, into w: inout BencodeWriter) {
        w.dictStart()
        w.key("complete"); w.int(r.complete)
        w.key("downloaded"); w.int(r.downloaded)
        w.key("external ip"); w.string(r.externalIP.bytes)
        w.key("incomplete"); w.int(r.incomplete)
        w.key("interval"); w.int(r.interval)
        w.key("min interval"); w.int(r.minInterval)
        if r.compact {
            var v4 = 0, v6 = 0
            for p in r.peers {
                if p.v4 != nil { v4 += 1 }
                if p.v6 != nil { v6 += 1 }
            }
            w.key("peers")
            w.stringHeader(length: v4 * 6)
            for p in r.peers { if let e = p.v4 { appendCompact(e, to: &w.bytes) } }
            w.key("peers6")
            w.stringHeader(length: v6 * 18)
            for p in r.peers { if let e = p.v6 { appendCompact(e, to: &w.bytes) } }
        } else {
            w.key("peers")
            w.listStart()
            for p in r.peers {
                for e in [p.v4, p.v6].compactMap({ $0 }) {
                    w.dictStart()
                    w.key("ip"); w.string(e.address.description)
                    if !r.noPeerID { w.key("peer id"); p.peerID.raw.withBytes { w.string($0) } }
                    w.key("port"); w.int(Int(e.port))
                    w.end()
                }
            }
            w.end()
        }
        w.end()
    }

    /// `d14:failure reason<len>:<text>e`
    public static func failure(_ f: TrackerFailure, into w: inout BencodeWriter) {
        w.dictStart()
        w.key("failure reason"); w.string(f.reason)
        w.end()
    }

    /// A BEP 48 scrape reply; `files` keys are the raw hashes in byte order.
    public static func scrape(_ files: [InfoHash: ScrapeEntry], into w: inout BencodeWriter) {
        w.dictStart()
        w.key("files")
        w.dictStart()
        let sorted = files.map { ($0.key.raw.bytes, $0.value) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        for (hash, e) in sorted {
            w.string(hash)
            w.dictStart()
            w.key("complete"); w.int(e.complete)
            w.key("downloaded"); w.int(e.downloaded)
            w.key("downloaders"); w.int(e.downloaders)
            w.key("incomplete"); w.int(e.incomplete)
            w.end()
        }
        w.end()
        w.end()
    }

    @inline(__always)
    static func appendCompact(_ e: Endpoint, to out: inout [UInt8]) {
        switch e.address {
        case .v4(let a):
            out.append(UInt8(truncatingIfNeeded: a.value >> 24))
            out.append(UInt8(truncatingIfNeeded: a.value >> 16))
            out.append(UInt8(truncatingIfNeeded: a.value >> 8))
            out.append(UInt8(truncatingIfNeeded: a.value))
        case .v6(let a):
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: a.high >> UInt64(s))) }
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: a.low >> UInt64(s))) }
        }
        out.append(UInt8(truncatingIfNeeded: e.port >> 8))
        out.append(UInt8(truncatingIfNeeded: e.port))
    }
}
