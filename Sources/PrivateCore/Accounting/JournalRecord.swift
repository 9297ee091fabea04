import TrackerCore

/// One `AccountEntry` as the accounting journal stores it: a little-endian length, the entry
/// with its sequence number, and an FNV-1a checksum of the entry's bytes. A record cut short
/// (a crash inside a write) or damaged fails its checksum, and reading stops there.
public enum JournalRecord {
    static let version: UInt8 = 1

    /// Appends the record for `entry` with `sequence` to `out`, written in place (no scratch
    /// arrays: it runs once per accounted announce).
    public static func encode(_ e: AccountEntry, sequence: UInt64, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 168 + e.agent.utf8.count)
        frame(into: &out) { p in
            p.append(version)
            p.put(sequence)
            p.put(e.user)
            p.put(e.torrent)
            e.peerID.raw.withBytes { p.append(contentsOf: $0) }
            p.put(e.at)
            var agent = e.agent
            agent.withUTF8 { p.putShort($0) }
            e.ip.withUnsafeBufferPointer { p.putShort($0) }
            p.put(e.port)
            p.put(e.clientUploaded)
            p.put(e.clientDownloaded)
            p.put(e.left)
            p.put(e.actualUploaded)
            p.put(e.actualDownloaded)
            p.put(e.uploaded)
            p.put(e.downloaded)
            // putFlags's layout, without its argument array.
            var flags: UInt8 = e.active ? 1 : 0
            if e.peerActive { flags |= 2 }
            if e.visible { flags |= 4 }
            if e.immune { flags |= 8 }
            if e.completedEvent { flags |= 16 }
            if e.completion { flags |= 32 }
            p.append(flags)
            p.append(UInt8(bitPattern: Int8(clamping: e.seederDelta)))
            p.append(UInt8(bitPattern: Int8(clamping: e.leecherDelta)))
        }
    }

    /// Every whole record at the start of `bytes`, in order, and how many bytes they took (the
    /// rest is a cut or damaged tail).
    public static func decodeAll(_ bytes: [UInt8]) -> (records: [(sequence: UInt64, entry: AccountEntry)], used: Int) {
        var out: [(UInt64, AccountEntry)] = []
        let used = frames(bytes) { payload in
            guard let r = decode(payload) else { return false }
            out.append(r)
            return true
        }
        return (out, used)
    }

    static func decode(_ p: ArraySlice<UInt8>) -> (UInt64, AccountEntry)? {
        var r = ByteReader(p)
        guard r.byte() == version, let seq = r.int(UInt64.self), let user = r.int(UInt32.self), let torrent = r.int(UInt32.self),
            let peerID = r.peerID(), let at = r.int(UInt32.self), let agent = r.short(), let ip = r.short(),
            ip.count == 4 || ip.count == 16,
            let port = r.int(UInt16.self)
        else { return nil }
        var values: [UInt64] = []
        for _ in 0..<7 {
            guard let v = r.int(UInt64.self) else { return nil }
            values.append(v)
        }
        guard let flags = r.byte(), let sd = r.byte(), let ld = r.byte(), r.atEnd else { return nil }
        func flag(_ n: Int) -> Bool { flags & (1 << n) != 0 }
        let e = AccountEntry(
            user: user, torrent: torrent, peerID: peerID, at: at, agent: String(decoding: agent, as: UTF8.self), ip: ip,
            port: port, clientUploaded: values[0], clientDownloaded: values[1], left: values[2], actualUploaded: values[3],
            actualDownloaded: values[4], uploaded: values[5], downloaded: values[6], active: flag(0), peerActive: flag(1),
            visible: flag(2), immune: flag(3), completedEvent: flag(4), completion: flag(5),
            seederDelta: Int32(Int8(bitPattern: sd)), leecherDelta: Int32(Int8(bitPattern: ld)))
        return (seq, e)
    }

    /// Appends a frame to `out`: its length, the payload `body` appends, its checksum.
    static func frame(into out: inout [UInt8], _ body: (inout [UInt8]) -> Void) {
        let start = out.count
        out.put(UInt32(0))
        body(&out)
        let length = out.count - start - 4
        withUnsafeBytes(of: UInt32(length).littleEndian) { le in
            for k in 0..<4 { out[start + k] = le[k] }
        }
        out.put(checksum(out[(start + 4)...]))
    }

    /// Calls `body` with each whole frame's payload at the start of `bytes` until it returns
    /// false or a frame is cut or damaged; returns the bytes of the frames it accepted.
    static func frames(_ bytes: [UInt8], maxPayload: Int = 1024, _ body: (ArraySlice<UInt8>) -> Bool) -> Int {
        var at = 0
        while bytes.count - at >= 8 {
            let length = Int(bytes.read(UInt32.self, at))
            guard length > 0, length <= maxPayload, bytes.count - at - 8 >= length else { break }
            let payload = bytes[(at + 4)..<(at + 4 + length)]
            guard bytes.read(UInt32.self, at + 4 + length) == checksum(payload), body(payload) else { break }
            at += 8 + length
        }
        return at
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }
}

/// Reads a journal payload front to back; every read is nil past the end.
struct ByteReader {
    private let bytes: [UInt8]
    private var i = 0

    init(_ p: ArraySlice<UInt8>) { bytes = Array(p) }

    var atEnd: Bool { i == bytes.count }

    mutating func take(_ n: Int) -> [UInt8]? {
        guard bytes.count - i >= n else { return nil }
        defer { i += n }
        return Array(bytes[i..<(i + n)])
    }

    mutating func byte() -> UInt8? { take(1)?.first }

    mutating func int<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard bytes.count - i >= MemoryLayout<T>.size else { return nil }
        defer { i += MemoryLayout<T>.size }
        return bytes.read(T.self, i)
    }

    /// A byte string of at most 255 bytes (`putShort`).
    mutating func short() -> [UInt8]? { byte().flatMap { take(Int($0)) } }

    mutating func peerID() -> PeerID? { take(20).flatMap { PeerID($0[...]) } }

    /// Up to eight flags (`putFlags`).
    mutating func flags(_ n: Int) -> [Bool]? { byte().map { b in (0..<n).map { b & (1 << $0) != 0 } } }
}

extension [UInt8] {
    mutating func put<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
    /// A byte string of at most 255 bytes: its length, then it (cut at 255).
    mutating func putShort(_ s: [UInt8]) { s.withUnsafeBufferPointer { putShort($0) } }
    mutating func putShort(_ s: UnsafeBufferPointer<UInt8>) {
        let s = UnsafeBufferPointer(rebasing: s.prefix(255))
        append(UInt8(s.count))
        append(contentsOf: s)
    }
    /// Up to eight flags in one byte, the first in bit 0.
    mutating func putFlags(_ flags: Bool...) {
        var b: UInt8 = 0
        for (i, f) in flags.prefix(8).enumerated() where f { b |= 1 << UInt8(i) }
        append(b)
    }
    func read<T: FixedWidthInteger>(_: T.Type, _ at: Int) -> T {
        var v: T = 0
        for k in 0..<MemoryLayout<T>.size { v |= T(self[at + k]) << (8 * k) }
        return v
    }
}
