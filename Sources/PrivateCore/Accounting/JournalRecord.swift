import TrackerCore

/// One `AccountEntry` as the accounting journal stores it: a little-endian length, the entry
/// with its sequence number, and an FNV-1a checksum of the entry's bytes. A record cut short
/// (a crash inside a write) or damaged fails its checksum, and reading stops there.
public enum JournalRecord {
    static let version: UInt8 = 1

    /// Appends the record for `entry` with `sequence` to `out`.
    public static func encode(_ e: AccountEntry, sequence: UInt64, into out: inout [UInt8]) {
        var p: [UInt8] = []
        p.reserveCapacity(160 + e.agent.utf8.count)
        p.append(version)
        p.put(sequence)
        p.put(e.user)
        p.put(e.torrent)
        p += e.peerID.raw.bytes
        p.put(e.at)
        let agent = Array(e.agent.utf8.prefix(255))
        p.append(UInt8(agent.count))
        p += agent
        p.append(UInt8(e.ip.count))
        p += e.ip.prefix(16)
        p.put(e.port)
        for v in [e.clientUploaded, e.clientDownloaded, e.left, e.actualUploaded, e.actualDownloaded, e.uploaded, e.downloaded] {
            p.put(v)
        }
        let flags: [Bool] = [e.active, e.peerActive, e.visible, e.immune, e.completedEvent, e.completion]
        p.append(flags.enumerated().reduce(0) { $0 | ($1.element ? UInt8(1) << UInt8($1.offset) : 0) })
        p.append(UInt8(bitPattern: Int8(clamping: e.seederDelta)))
        p.append(UInt8(bitPattern: Int8(clamping: e.leecherDelta)))
        out.put(UInt32(p.count))
        out += p
        out.put(checksum(p[...]))
    }

    /// Every whole record at the start of `bytes`, in order, and how many bytes they took (the
    /// rest is a cut or damaged tail).
    public static func decodeAll(_ bytes: [UInt8]) -> (records: [(sequence: UInt64, entry: AccountEntry)], used: Int) {
        var out: [(UInt64, AccountEntry)] = []
        var at = 0
        while bytes.count - at >= 8 {
            let length = Int(bytes.read(UInt32.self, at))
            guard length > 0, length <= 1024, bytes.count - at - 8 >= length else { break }
            let payload = bytes[(at + 4)..<(at + 4 + length)]
            guard bytes.read(UInt32.self, at + 4 + length) == checksum(payload), let r = decode(payload) else { break }
            out.append(r)
            at += 8 + length
        }
        return (out, at)
    }

    static func decode(_ p: ArraySlice<UInt8>) -> (UInt64, AccountEntry)? {
        let b = Array(p)
        var i = 0
        func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard b.count - i >= n else { return nil }
            defer { i += n }
            return b[i..<(i + n)]
        }
        func int<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard b.count - i >= MemoryLayout<T>.size else { return nil }
            defer { i += MemoryLayout<T>.size }
            return b.read(T.self, i)
        }
        guard take(1)?.first == version, let seq = int(UInt64.self), let user = int(UInt32.self),
            let torrent = int(UInt32.self), let pid = take(20), let peerID = PeerID(pid), let at = int(UInt32.self),
            let agentLength = take(1)?.first, let agent = take(Int(agentLength)), let ipLength = take(1)?.first,
            ipLength == 4 || ipLength == 16, let ip = take(Int(ipLength)), let port = int(UInt16.self)
        else { return nil }
        var values: [UInt64] = []
        for _ in 0..<7 {
            guard let v = int(UInt64.self) else { return nil }
            values.append(v)
        }
        guard let flags = take(1)?.first, let sd = take(1)?.first, let ld = take(1)?.first, i == b.count else { return nil }
        func flag(_ n: Int) -> Bool { flags & (1 << n) != 0 }
        let e = AccountEntry(
            user: user, torrent: torrent, peerID: peerID, at: at, agent: String(decoding: agent, as: UTF8.self), ip: Array(ip),
            port: port, clientUploaded: values[0], clientDownloaded: values[1], left: values[2], actualUploaded: values[3],
            actualDownloaded: values[4], uploaded: values[5], downloaded: values[6], active: flag(0), peerActive: flag(1),
            visible: flag(2), immune: flag(3), completedEvent: flag(4), completion: flag(5),
            seederDelta: Int32(Int8(bitPattern: sd)), leecherDelta: Int32(Int8(bitPattern: ld)))
        return (seq, e)
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }
}

extension [UInt8] {
    fileprivate mutating func put<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
    fileprivate func read<T: FixedWidthInteger>(_: T.Type, _ at: Int) -> T {
        var v: T = 0
        for k in 0..<MemoryLayout<T>.size { v |= T(self[at + k]) << (8 * k) }
        return v
    }
}
