public import TrackerCore

/// An announce's accounting step as the journal holds it before the step is taken in Redis:
/// the Redis store's baselines outlive this process, so a step Redis applied whose entry this
/// process never wrote (it died, or the reply was lost) would otherwise lose its bytes. With
/// it, the entry is made again from the step's outcome, which Redis keeps by `token` beside the
/// baselines (`RedisScripts.accountStep`).
public struct AccountIntent: Sendable, Equatable {
    /// This instance's number for the step, unique across its restarts (ordered by time).
    public var token: UInt64
    public var user: UInt32
    public var torrent: UInt32
    public var peerID: PeerID
    /// Unix seconds of the announce.
    public var at: UInt32
    /// The User-Agent, at most 64 bytes.
    public var agent: [UInt8]
    /// 4 bytes (IPv4) or 16 (IPv6).
    public var ip: [UInt8]
    public var port: UInt16
    /// The client's values, as reported.
    public var uploaded: UInt64
    public var downloaded: UInt64
    public var left: UInt64
    public var event: AnnounceEvent
    public var factors: Factors
    public var visible: Bool

    public init(
        token: UInt64, user: UInt32, torrent: UInt32, peerID: PeerID, at: UInt32, agent: [UInt8], ip: [UInt8], port: UInt16,
        uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, factors: Factors, visible: Bool
    ) {
        (self.token, self.user, self.torrent, self.peerID, self.at, self.agent) = (token, user, torrent, peerID, at, agent)
        (self.ip, self.port, self.uploaded, self.downloaded, self.left) = (ip, port, uploaded, downloaded, left)
        (self.event, self.factors, self.visible) = (event, factors, visible)
    }
}

/// One `AccountEntry` as the accounting journal stores it: a little-endian length, the entry
/// with its sequence number (and the token of its step's `AccountIntent`, when it had one),
/// and an FNV-1a checksum of the entry's bytes; or one `AccountIntent`, framed the same way. A
/// record cut short (a crash inside a write) or damaged fails its checksum, and reading stops
/// there.
public enum JournalRecord {
    static let version: UInt8 = 1
    /// An entry with its intent's token after it.
    static let versionWithToken: UInt8 = 3
    static let intentVersion: UInt8 = 2

    /// One record as read.
    public enum Item: Sendable, Equatable {
        case entry(sequence: UInt64, entry: AccountEntry, token: UInt64?)
        case intent(AccountIntent)
    }

    /// Appends the record for `entry` with `sequence` (and its intent's `token`, when not 0)
    /// to `out`, written in place (no scratch arrays: it runs once per accounted announce).
    public static func encode(_ e: AccountEntry, sequence: UInt64, token: UInt64 = 0, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 176 + e.agent.utf8.count)
        frame(into: &out) { p in
            p.append(token == 0 ? version : versionWithToken)
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
            if token != 0 { p.put(token) }
        }
    }

    /// Appends the record for intent `i` to `out`.
    public static func encode(_ i: AccountIntent, into out: inout [UInt8]) {
        frame(into: &out) { p in
            p.append(intentVersion)
            p.put(i.token)
            p.put(i.user)
            p.put(i.torrent)
            i.peerID.raw.withBytes { p.append(contentsOf: $0) }
            p.put(i.at)
            p.putShort(i.agent)
            p.putShort(i.ip)
            p.put(i.port)
            p.put(i.uploaded)
            p.put(i.downloaded)
            p.put(i.left)
            p.append(UInt8(AnnounceEvent.allCases.firstIndex(of: i.event) ?? 0))
            p.append(i.factors.upload)
            p.append(i.factors.download)
            p.putFlags(i.factors.immune, i.visible)
        }
    }

    /// Every whole entry record at the start of `bytes`, in order, and how many bytes the
    /// records took (intents skipped; the rest is a cut or damaged tail).
    public static func decodeAll(_ bytes: [UInt8]) -> (records: [(sequence: UInt64, entry: AccountEntry)], used: Int) {
        let (items, used) = decodeItems(bytes)
        return (
            items.compactMap { item in
                guard case .entry(let sequence, let entry, _) = item else { return nil }
                return (sequence, entry)
            }, used
        )
    }

    /// Every whole record at the start of `bytes`, entries and intents, in order, and how many
    /// bytes they took.
    public static func decodeItems(_ bytes: [UInt8]) -> (items: [Item], used: Int) {
        var out: [Item] = []
        let used = frames(bytes) { payload in
            if payload.first == intentVersion {
                guard let i = decodeIntent(payload) else { return false }
                out.append(.intent(i))
            } else {
                guard let r = decode(payload) else { return false }
                out.append(.entry(sequence: r.0, entry: r.1, token: r.2))
            }
            return true
        }
        return (out, used)
    }

    static func decodeIntent(_ p: ArraySlice<UInt8>) -> AccountIntent? {
        var r = ByteReader(p)
        guard r.byte() == intentVersion, let token = r.int(UInt64.self), let user = r.int(UInt32.self),
            let torrent = r.int(UInt32.self), let peerID = r.peerID(), let at = r.int(UInt32.self), let agent = r.short(),
            let ip = r.short(), ip.count == 4 || ip.count == 16, let port = r.int(UInt16.self), let up = r.int(UInt64.self),
            let down = r.int(UInt64.self), let left = r.int(UInt64.self), let event = r.byte(), Int(event) < AnnounceEvent.allCases.count,
            let upload = r.byte(), let download = r.byte(), let flags = r.flags(2), r.atEnd
        else { return nil }
        return AccountIntent(
            token: token, user: user, torrent: torrent, peerID: peerID, at: at, agent: agent, ip: ip, port: port, uploaded: up,
            downloaded: down, left: left, event: AnnounceEvent.allCases[Int(event)],
            factors: Factors(upload: upload, download: download, immune: flags[0]), visible: flags[1])
    }

    static func decode(_ p: ArraySlice<UInt8>) -> (UInt64, AccountEntry, UInt64?)? {
        var r = ByteReader(p)
        let v = r.byte()
        guard v == version || v == versionWithToken, let seq = r.int(UInt64.self), let user = r.int(UInt32.self),
            let torrent = r.int(UInt32.self),
            let peerID = r.peerID(), let at = r.int(UInt32.self), let agent = r.short(), let ip = r.short(),
            ip.count == 4 || ip.count == 16,
            let port = r.int(UInt16.self)
        else { return nil }
        var values: [UInt64] = []
        for _ in 0..<7 {
            guard let v = r.int(UInt64.self) else { return nil }
            values.append(v)
        }
        guard let flags = r.byte(), let sd = r.byte(), let ld = r.byte() else { return nil }
        var token: UInt64?
        if v == versionWithToken {
            guard let t = r.int(UInt64.self) else { return nil }
            token = t
        }
        guard r.atEnd else { return nil }
        func flag(_ n: Int) -> Bool { flags & (1 << n) != 0 }
        let e = AccountEntry(
            user: user, torrent: torrent, peerID: peerID, at: at, agent: String(decoding: agent, as: UTF8.self), ip: ip,
            port: port, clientUploaded: values[0], clientDownloaded: values[1], left: values[2], actualUploaded: values[3],
            actualDownloaded: values[4], uploaded: values[5], downloaded: values[6], active: flag(0), peerActive: flag(1),
            visible: flag(2), immune: flag(3), completedEvent: flag(4), completion: flag(5),
            seederDelta: Int32(Int8(bitPattern: sd)), leecherDelta: Int32(Int8(bitPattern: ld)))
        return (seq, e, token)
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
