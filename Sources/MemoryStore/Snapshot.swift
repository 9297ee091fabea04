import Foundation
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// The memory store's swarms kept across a planned restart: written on graceful stop, read at
/// start. Each endpoint is stored with its age, so what has expired meanwhile (by the wall
/// clock between the write and the read) is dropped on reading.
///
/// Format, little-endian: `SQSNAP1\n`, the write's Unix time (8 bytes); per torrent the
/// info_hash (20), times completed (4), seeders (4) and peers (4), each peer its id (20), user
/// (4), key digest (4), flags (1), IPv4 address (4), port (2) and age (4), then 1 if it has an
/// IPv6 endpoint followed by its address (16), port (2) and age (4); then 20 zero bytes. A
/// file that does not parse to its end is refused whole.
public struct MemorySnapshotReport: Sendable, Equatable {
    public var torrents = 0
    public var peers = 0
    /// Peers left out: expired, or beyond the store's limits.
    public var dropped = 0
    public init(torrents: Int = 0, peers: Int = 0, dropped: Int = 0) {
        (self.torrents, self.peers, self.dropped) = (torrents, peers, dropped)
    }
}

public struct MemorySnapshotError: Error, CustomStringConvertible {
    public var description: String
}

extension MemoryPeerStore {
    static let snapshotMagic = Array("SQSNAP1\n".utf8)

    /// Writes every swarm to `path` (aside, synced, renamed into place, mode 0600).
    @discardableResult
    public func writeSnapshot(to path: String, unixNow: UInt64? = nil) throws -> MemorySnapshotReport {
        let now = clock.now()
        var out = Self.snapshotMagic
        out.putLE(unixNow ?? UInt64(time(nil)))
        var report = MemorySnapshotReport()
        for s in shards {
            s.state.withLock { state in
                for (hash, swarm) in state.torrents where !swarm.peers.isEmpty {
                    report.torrents += 1
                    report.peers += swarm.peers.count
                    out.append(contentsOf: hash.raw.bytes)
                    out.putLE(swarm.downloaded)
                    out.putLE(swarm.seeders)
                    out.putLE(UInt32(swarm.peers.count))
                    for p in swarm.peers {
                        out.append(contentsOf: p.id.bytes)
                        out.putLE(p.user)
                        out.putLE(p.key)
                        out.append(p.flags)
                        out.putLE(p.v4)
                        out.putLE(p.port4)
                        out.putLE(now &- p.seen4)
                        if p.v6 >= 0 {
                            let e = swarm.v6[Int(p.v6)]
                            out.append(1)
                            out.putLE(e.high)
                            out.putLE(e.low)
                            out.putLE(e.port)
                            out.putLE(now &- e.seen)
                        } else {
                            out.append(0)
                        }
                    }
                }
            }
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: 20))
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MemorySnapshotError(description: "memory snapshot: cannot write \(tmp): errno \(errno)") }
        var written = 0
        let ok = out.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw MemorySnapshotError(description: "memory snapshot: cannot write \(path): errno \(errno)")
        }
        return report
    }

    /// Reads a snapshot into this (empty) store, dropping endpoints older than the TTL by now
    /// and peers beyond the limits. Throws, changing nothing, for a file that is not whole.
    public func loadSnapshot(from path: String, unixNow: UInt64? = nil) throws -> MemorySnapshotReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MemorySnapshotError(description: "memory snapshot: cannot read \(path)")
        }
        let torrents = try Self.parseSnapshot(Array(data), path: path)
        let now = clock.now()
        let wall = unixNow ?? UInt64(time(nil))
        let elapsed = UInt32(clamping: wall > torrents.written ? wall - torrents.written : 0)
        var report = MemorySnapshotReport()
        for t in torrents.swarms {
            var swarm = Swarm()
            swarm.downloaded = t.downloaded
            var seeders: UInt32 = 0
            var oldest = now
            for (i, var p) in t.peers.enumerated() {
                let age4 = p.slot.seen4 &+ elapsed, age6 = (p.v6?.seen ?? 0) &+ elapsed
                let keep4 = p.slot.flags & PeerSlot.hasV4 != 0 && age4 <= ttl
                let keep6 = p.v6 != nil && age6 <= ttl
                guard keep4 || keep6, peerCount.load(ordering: .relaxed) + swarm.peers.count < limits.maxPeers,
                    swarm.peers.count < limits.maxPeersPerTorrent
                else {
                    report.dropped += 1
                    continue
                }
                p.slot.seen4 = keep4 ? now - min(age4, now - 1) : 0
                if !keep4 { p.slot.flags &= ~PeerSlot.hasV4 }
                p.slot.v6 = -1
                if keep6, var e = p.v6 {
                    e.seen = now - min(age6, now - 1)
                    swarm.v6.append(e)
                    p.slot.v6 = Int32(swarm.v6.count - 1)
                    swarm.v6Live += 1
                    oldest = min(oldest, e.seen)
                }
                if keep4 { oldest = min(oldest, p.slot.seen4) }
                if i < Int(t.seeders) { seeders += 1 } else if p.slot.flags & PeerSlot.partialSeed != 0 { swarm.partialSeeds += 1 }
                swarm.peers.append(p.slot)
            }
            guard !swarm.peers.isEmpty else { continue }
            guard torrentCount.load(ordering: .relaxed) < limits.maxTorrents else {
                report.dropped += swarm.peers.count
                continue
            }
            swarm.seeders = seeders
            swarm.oldestSeen = oldest
            swarm.rebuildIndex(seed: seed)
            let v4 = swarm.peers.filter { $0.flags & PeerSlot.hasV4 != 0 }.count
            let added = shard(for: t.hash).state.withLock { state -> Bool in
                guard state.torrents[t.hash] == nil else { return false }
                state.torrents[t.hash] = swarm
                state.add(SwarmDelta(peers: swarm.peers.count, seeders: Int(seeders), v4: v4, v6: Int(swarm.v6Live)))
                return true
            }
            guard added else { continue }
            torrentCount.add(1, ordering: .relaxed)
            peerCount.add(swarm.peers.count, ordering: .relaxed)
            report.torrents += 1
            report.peers += swarm.peers.count
        }
        return report
    }

    struct SnapshotTorrent {
        var hash: InfoHash
        var downloaded: UInt32
        var seeders: UInt32
        /// Ages in `seen4` and `v6.seen`.
        var peers: [(slot: PeerSlot, v6: V6Slot?)]
    }

    static func parseSnapshot(_ bytes: [UInt8], path: String) throws -> (written: UInt64, swarms: [SnapshotTorrent]) {
        var r = SnapshotReader(bytes: bytes)
        let refused = MemorySnapshotError(description: "memory snapshot: \(path) is damaged or not a snapshot; not loaded")
        guard r.take(8) == snapshotMagic, let written = r.u64() else { throw refused }
        var swarms: [SnapshotTorrent] = []
        while true {
            guard let raw = r.take(20) else { throw refused }
            if raw.allSatisfy({ $0 == 0 }) { break }
            guard let hash = InfoHash(raw), let downloaded = r.u32(), let seeders = r.u32(), let count = r.u32(), seeders <= count,
                Int(count) <= r.remaining / 45
            else { throw refused }
            var peers: [(slot: PeerSlot, v6: V6Slot?)] = []
            peers.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let id = r.take(20).flatMap(Bytes20.init), let user = r.u32(), let key = r.u32(), let flags = r.take(1)?.first,
                    let v4 = r.u32(), let port4 = r.u16(), let age4 = r.u32(), let hasV6 = r.take(1)?.first, hasV6 <= 1
                else { throw refused }
                var v6: V6Slot?
                if hasV6 == 1 {
                    guard let high = r.u64(), let low = r.u64(), let port = r.u16(), let age = r.u32() else { throw refused }
                    v6 = V6Slot(high: high, low: low, seen: age, port: port)
                }
                let slot = PeerSlot(id: id, user: user, v4: v4, seen4: age4, v6: -1, key: key, port4: port4, flags: flags)
                peers.append((slot, v6))
            }
            swarms.append(SnapshotTorrent(hash: hash, downloaded: downloaded, seeders: seeders, peers: peers))
        }
        guard r.remaining == 0 else { throw refused }
        return (written, swarms)
    }
}

struct SnapshotReader {
    let bytes: [UInt8]
    var offset = 0
    var remaining: Int { bytes.count - offset }
    mutating func take(_ n: Int) -> [UInt8]? {
        guard remaining >= n else { return nil }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
    mutating func u16() -> UInt16? { take(2).map { UInt16($0[0]) | UInt16($0[1]) << 8 } }
    mutating func u32() -> UInt32? { take(4).map { $0.reversed().reduce(0) { $0 << 8 | UInt32($1) } } }
    mutating func u64() -> UInt64? { take(8).map { $0.reversed().reduce(0) { $0 << 8 | UInt64($1) } } }
}

extension [UInt8] {
    mutating func putLE<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
}
