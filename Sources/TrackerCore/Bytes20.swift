/// Twenty raw bytes: the shape of an `info_hash` and of a `peer_id`.
///
/// Stored as five 32-bit words so a record that holds one stays 4-byte aligned and compact
/// (the memory store keeps millions of them). Byte order inside the words is the wire order,
/// so `==` and hashing compare the exact bytes a client sent.
public struct Bytes20: Hashable, Sendable {
    public var w0: UInt32, w1: UInt32, w2: UInt32, w3: UInt32, w4: UInt32

    public init(w0: UInt32, w1: UInt32, w2: UInt32, w3: UInt32, w4: UInt32) {
        (self.w0, self.w1, self.w2, self.w3, self.w4) = (w0, w1, w2, w3, w4)
    }

    /// Returns nil unless `bytes` holds exactly 20 bytes. Inlinable, so callers in other
    /// modules get a version specialized to their collection (the generic one costs ~20x).
    @inlinable
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard bytes.count == 20 else { return nil }
        var words = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        withUnsafeMutableBytes(of: &words) { raw in
            var i = 0
            for b in bytes { raw[i] = b; i += 1 }
        }
        (w0, w1, w2, w3, w4) = words
    }

    /// The 20 bytes in wire order.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: (w0, w1, w2, w3, w4)) { Array($0) }
    }

    /// Calls `body` with the 20 bytes in wire order, without allocating.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (w0, w1, w2, w3, w4), body)
    }

    /// Lower-case hexadecimal, 40 characters.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(40)
        withBytes { raw in
            for b in raw {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses 40 hexadecimal digits (either case).
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 40 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(20)
        for i in stride(from: 0, to: 40, by: 2) {
            guard let hi = hexDigitValue(utf8[i]), let lo = hexDigitValue(utf8[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
        }
        self.init(bytes)
    }

    /// A keyed mix of all five words, for hash tables whose keys clients choose.
    @inlinable
    public func mixed(seed: UInt64) -> UInt64 {
        var h = seed ^ 0x9E37_79B9_7F4A_7C15
        h = (h ^ UInt64(w0)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (UInt64(w1) << 32 | UInt64(w2))) &* 0x94D0_49BB_1331_11EB
        h = (h ^ (UInt64(w3) << 32 | UInt64(w4))) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }
}

/// The value of one ASCII hexadecimal digit (either case), or nil.
@inlinable
public func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// A torrent's identity: the SHA-1 of its info dictionary (or a v2 hash truncated to 20 bytes).
public struct InfoHash: Hashable, Sendable, CustomStringConvertible {
    public var raw: Bytes20
    public init(_ raw: Bytes20) { self.raw = raw }
    @inlinable
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard let raw = Bytes20(bytes) else { return nil }
        self.raw = raw
    }
    public var description: String { raw.hex }
}

/// A peer's self-chosen identity inside one torrent.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public var raw: Bytes20
    public init(_ raw: Bytes20) { self.raw = raw }
    @inlinable
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard let raw = Bytes20(bytes) else { return nil }
        self.raw = raw
    }
    public var description: String { raw.hex }
}
