public import TrackerCore

/// One peer's baseline as the accounting keeps it in Redis (see `RedisScripts.accountStep`).
public struct RedisBaseline: Sendable, Equatable {
    public var uploaded: UInt64
    public var downloaded: UInt64
    public var at: UInt32
    public var seeder: Bool
    public var active: Bool
}

/// What the accounting's step script answers.
public struct RedisAccountStep: Sendable, Equatable {
    /// The peer's baseline before this announce (nil: not held).
    public var old: RedisBaseline?
    /// This announce was the (user, torrent)'s first leecher-to-seeder step.
    public var completion: Bool
    /// Another of the user's peers here is active (announced within the active TTL).
    public var otherActive: Bool
}

extension RedisPeerStore {
    /// The key of a (user, torrent)'s accounting hash (one key: any slot on a cluster).
    func accountKey(torrent: UInt32, user: UInt32) -> [UInt8] { Array((keys.prefix + "acct:\(torrent):\(user)").utf8) }

    /// Private mode's accounting step for one announce, atomically in Redis, so that every
    /// instance on this Redis shares a peer's baseline: the script keeps the high-water mark
    /// (`PrivateCore`'s `Counters.step`, whose rule it applies to decide what to keep), marks the
    /// (user, torrent)'s completion once, drops the user's stalest other peer here beyond
    /// `maxPeers`, and sets the hash's expiry to `ttl`. The caller computes the deltas from the
    /// old baseline it returns.
    public func accountStep(
        torrent: UInt32, user: UInt32, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent,
        now: UInt32, window: UInt32, activeTTL: UInt32, maxPeers: Int, ttl: UInt32,
        completion: @escaping @Sendable (Result<RedisAccountStep, StoreError>) -> Void
    ) {
        func hex(_ v: UInt64) -> [UInt8] {
            let s = String(v, radix: 16)
            return Array((String(repeating: "0", count: 16 - s.count) + s).utf8)
        }
        let key = accountKey(torrent: torrent, user: user)
        let args: [[UInt8]] = [
            peerID.raw.bytes, hex(uploaded), hex(downloaded), Self.decimal(Int(now)), [left == 0 ? 0x31 : 0x30],
            [event == .stopped ? 0x30 : 0x31], [event == .started ? 0x31 : 0x30], Self.decimal(Int(window)),
            Self.decimal(max(1, maxPeers)), Self.decimal(Int(max(1, ttl))), Self.decimal(Int(activeTTL)),
        ]
        client.eval(RedisScripts.accountStep, slot: keys.slot(0).map { _ in RedisSlot.of(key) }, keys: [key], arguments: args) { result in
            let reply: RedisValue
            switch Self.storeResult(result) {
            case .success(let v): reply = v
            case .failure(let e): return completion(.failure(e))
            }
            if case .array(let items) = reply, items.count == 3, let done = items[1].integer, let other = items[2].integer {
                switch items[0] {
                case .null: return completion(.success(RedisAccountStep(old: nil, completion: done == 1, otherActive: other == 1)))
                case .string(let v):
                    if let old = Self.baseline(v) {
                        return completion(.success(RedisAccountStep(old: old, completion: done == 1, otherActive: other == 1)))
                    }
                default: break
                }
            }
            completion(.failure(.unavailable("redis: unexpected reply to the accounting step \(reply)")))
        }
    }

    /// A stored baseline: uploaded and downloaded (16 hex digits each), the last announce
    /// (8 hex digits), seeder and active ('0' or '1').
    static func baseline(_ v: [UInt8]) -> RedisBaseline? {
        guard v.count == 42 else { return nil }
        let text = String(decoding: v, as: UTF8.self)
        let s = Array(text)
        guard let up = UInt64(String(s[0..<16]), radix: 16), let down = UInt64(String(s[16..<32]), radix: 16),
            let at = UInt32(String(s[32..<40]), radix: 16)
        else { return nil }
        return RedisBaseline(uploaded: up, downloaded: down, at: at, seeder: s[40] == "1", active: s[41] == "1")
    }
}

extension RedisPeerStore {
    /// The stored baselines of `peers` (user, peer_id) on `torrent`, in order (nil: none held,
    /// or Redis did not answer). One `HGET` each, at most 64 in flight (pipelined on the
    /// connections); for the site API's torrent view, never on the announce path.
    public func accountBaselines(torrent: UInt32, peers: [(user: UInt32, peerID: PeerID)]) async -> [RedisBaseline?] {
        var out = [RedisBaseline?](repeating: nil, count: peers.count)
        await withTaskGroup(of: (Int, RedisBaseline?).self) { group in
            var next = 0
            func start() {
                guard next < peers.count else { return }
                let (i, p) = (next, peers[next])
                next += 1
                let key = accountKey(torrent: torrent, user: p.user)
                let slot = keys.slot(0).map { _ in RedisSlot.of(key) }
                group.addTask {
                    guard
                        case .success(.string(let v)) = await self.client.command(
                            [Array("HGET".utf8), key, p.peerID.raw.bytes], slot: slot)
                    else { return (i, nil) }
                    return (i, Self.baseline(v))
                }
            }
            for _ in 0..<64 { start() }
            for await (i, b) in group {
                out[i] = b
                start()
            }
        }
        return out
    }

    /// Seconds left before a (user, torrent)'s accounting hash expires (for tests).
    public func accountTTL(torrent: UInt32, user: UInt32) async throws(StoreError) -> Int {
        let key = accountKey(torrent: torrent, user: user)
        guard
            case .success(.integer(let v)) = await client.command(
                [Array("TTL".utf8), key], slot: keys.slot(0).map { _ in RedisSlot.of(key) })
        else { throw .unavailable("redis: TTL failed") }
        return v
    }
}
