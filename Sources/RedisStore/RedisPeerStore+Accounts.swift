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
    /// old baseline it returns. With `record`, the outcome is also kept under its token in the
    /// instance's step field (see `RedisScripts.accountStep`), with those of its steps whose
    /// tokens are at least `low`.
    public func accountStep(
        torrent: UInt32, user: UInt32, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent,
        now: UInt32, window: UInt32, activeTTL: UInt32, maxPeers: Int, ttl: UInt32, record: StepRecord? = nil,
        completion: @escaping @Sendable (Result<RedisAccountStep, StoreError>) -> Void
    ) {
        let key = accountKey(torrent: torrent, user: user)
        var args: [[UInt8]] = [
            peerID.raw.bytes, Self.hex16(uploaded), Self.hex16(downloaded), Self.decimal(Int(now)), [left == 0 ? 0x31 : 0x30],
            [event == .stopped ? 0x30 : 0x31], [event == .started ? 0x31 : 0x30], Self.decimal(Int(window)),
            Self.decimal(max(1, maxPeers)), Self.decimal(Int(max(1, ttl))), Self.decimal(Int(activeTTL)),
        ]
        if let record { args += [record.field, Self.hex16(record.token), Self.hex16(record.low)] }
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

    /// 16 lower-case hex digits (so Lua compares them as strings).
    static func hex16(_ v: UInt64) -> [UInt8] {
        // Written digit by digit: this runs several times per accounted announce.
        [UInt8](unsafeUninitializedCapacity: 16) { out, n in
            for i in 0..<16 {
                let d = UInt8(truncatingIfNeeded: v >> UInt64(60 - 4 * i)) & 0x0F
                out[i] = d < 10 ? 0x30 + d : 0x57 + d
            }
            n = 16
        }
    }

    /// The value of `count` hex digits (either case) at `start` of `v`; nil when one is not.
    static func hexValue(_ v: [UInt8], _ start: Int, _ count: Int) -> UInt64? {
        var x: UInt64 = 0
        for i in start..<(start + count) {
            let c = v[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x57
            case 0x41...0x46: d = c - 0x37
            default: return nil
            }
            x = x << 4 | UInt64(d)
        }
        return x
    }

    /// Where and under what the accounting step keeps its outcome.
    public struct StepRecord: Sendable, Equatable {
        /// The instance's step field in the (user, torrent)'s hash (`stepField`).
        public var field: [UInt8]
        public var token: UInt64
        /// The lowest token the instance still needs: older outcomes are dropped.
        public var low: UInt64
        public init(field: [UInt8], token: UInt64, low: UInt64) { (self.field, self.token, self.low) = (field, token, low) }
    }

    /// An instance's step field: `j:` and its name, never 20 bytes long (the peer_ids' fields
    /// are).
    public static func stepField(instance: String) -> [UInt8] {
        let f = Array(("j:" + instance).utf8)
        return f.count == 20 ? f + [UInt8(ascii: ":")] : f
    }

    /// The outcomes the instance's step field holds on (user, torrent), by token: one record
    /// is the token (16 hex digits), the old baseline (42 bytes, or 42 `-` for none), and a
    /// digit (2: the completion, plus 1: another peer active). An empty answer: no field.
    public func recordedSteps(torrent: UInt32, user: UInt32, field: [UInt8]) async -> Result<[UInt64: RedisAccountStep], StoreError> {
        let key = accountKey(torrent: torrent, user: user)
        let reply = await client.command([Array("HGET".utf8), key, field], slot: keys.slot(0).map { _ in RedisSlot.of(key) })
        switch Self.storeResult(reply) {
        case .failure(let e): return .failure(e)
        case .success(.null): return .success([:])
        case .success(.string(let v)):
            var out: [UInt64: RedisAccountStep] = [:]
            var i = 0
            while v.count - i >= 59 {
                let r = Array(v[i..<(i + 59)])
                i += 59
                guard let token = UInt64(String(decoding: r[0..<16], as: UTF8.self), radix: 16),
                    let flags = Int(String(decoding: r[58...], as: UTF8.self)), (0...3).contains(flags)
                else { continue }
                let old = Array(r[16..<58])
                let none = old.allSatisfy { $0 == UInt8(ascii: "-") }
                guard none || Self.baseline(old) != nil else { continue }
                out[token] = RedisAccountStep(old: none ? nil : Self.baseline(old), completion: flags & 2 != 0, otherActive: flags & 1 != 0)
            }
            return .success(out)
        case .success(let other): return .failure(.unavailable("redis: unexpected reply to HGET \(other)"))
        }
    }

    /// A stored baseline: uploaded and downloaded (16 hex digits each), the last announce
    /// (8 hex digits), seeder and active ('0' or '1').
    static func baseline(_ v: [UInt8]) -> RedisBaseline? {
        // Read from the bytes (no string made): this runs on every accounted announce.
        guard v.count == 42, let up = hexValue(v, 0, 16), let down = hexValue(v, 16, 16), let at = hexValue(v, 32, 8) else {
            return nil
        }
        return RedisBaseline(
            uploaded: up, downloaded: down, at: UInt32(truncatingIfNeeded: at), seeder: v[40] == UInt8(ascii: "1"),
            active: v[41] == UInt8(ascii: "1"))
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
