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
        if r.compact || r.warning != nil {
            w.key("peers")
            compactList(r.peers, ipv6: false, into: &w)
            w.key("peers6")
            compactList(r.peers, ipv6: true, into: &w)
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
        if let warning = r.warning { w.key("warning message"); w.string(warning) }
        w.end()
    }

    /// A private tracker's refusal, with intervals as UNIT3D-Announce sends them:
    /// `d14:failure reason<len>:<text>8:intervali<N>e12:min intervali<N>ee`.
    public static func failure(_ text: String, interval: Int, into w: inout BencodeWriter) {
        w.dictStart()
        w.key("failure reason"); w.string(text)
        w.key("interval"); w.int(interval)
        w.key("min interval"); w.int(interval)
        w.end()
    }

    /// A refusal that looks like a normal reply, so that clients neither back off nor retry at
    /// once: no peers, zero counts, the text as BEP 3's `warning message`.
    public static func warning(_ text: String, interval: Int, into w: inout BencodeWriter) {
        w.dictStart()
        w.key("complete"); w.int(0)
        w.key("downloaded"); w.int(0)
        w.key("incomplete"); w.int(0)
        w.key("interval"); w.int(interval)
        w.key("min interval"); w.int(interval)
        w.key("peers"); w.string([UInt8]())
        w.key("warning message"); w.string(text)
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

    /// Writes the byte string of the peers' IPv4 (6 bytes each) or IPv6 (18 bytes each)
    /// endpoints: address then port, big-endian. The bytes are reserved once and stored in
    /// place; a reply carries up to two lists of numwant entries, and appending them byte by
    /// byte was the largest part of encoding a reply.
    static func compactList(_ peers: [SwarmPeer], ipv6: Bool, into w: inout BencodeWriter) {
        let entryBytes = ipv6 ? 18 : 6
        // The list's endpoint of a peer, if it has one of the list's family.
        @inline(__always) func pick(_ p: SwarmPeer) -> Endpoint? {
            guard let e = ipv6 ? p.v6 : p.v4 else { return nil }
            switch e.address {
            case .v4: return ipv6 ? nil : e
            case .v6: return ipv6 ? e : nil
            }
        }
        var count = 0
        for p in peers where pick(p) != nil { count += 1 }
        w.stringHeader(length: count * entryBytes)
        guard count > 0 else { return }
        var offset = w.bytes.count
        w.bytes.append(contentsOf: repeatElement(0, count: count * entryBytes))
        w.bytes.withUnsafeMutableBytes { raw in
            for p in peers {
                guard let e = pick(p) else { continue }
                switch e.address {
                case .v4(let a):
                    raw.storeBytes(of: a.value.bigEndian, toByteOffset: offset, as: UInt32.self)
                case .v6(let a):
                    raw.storeBytes(of: a.high.bigEndian, toByteOffset: offset, as: UInt64.self)
                    raw.storeBytes(of: a.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
                }
                raw.storeBytes(of: e.port.bigEndian, toByteOffset: offset + entryBytes - 2, as: UInt16.self)
                offset += entryBytes
            }
        }
    }
}
