/// A user's secret: exactly 32 bytes (UNIT3D makes them as 32 lower-case hex digits, but any
/// byte values are accepted and compared exactly).
///
/// Two rules keep it secret:
/// - `==` compares every byte, always, with no early exit, so a lookup's time says nothing
///   about how many leading bytes of a guess were right. The registry's table hashes with
///   Swift's per-process random seed, so which bucket a guess lands in says nothing either.
/// - It prints as `<passkey>` wherever it is interpolated (logs, errors, `--print-config`): the
///   bytes are reachable only through `withBytes`, which the announce path and the site's API
///   use, never a log line.
public struct Passkey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let length = 32

    @usableFromInline var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Nil unless `bytes` holds exactly 32 bytes.
    @inlinable
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard bytes.count == Self.length else { return nil }
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &words) { raw in
            var i = 0
            for b in bytes {
                raw[i] = b
                i += 1
            }
        }
        (w0, w1, w2, w3) = words
    }

    /// The UTF-8 bytes of `text`, when there are exactly 32 of them.
    public init?(_ text: String) { self.init(Array(text.utf8)) }

    @inlinable
    public static func == (a: Passkey, b: Passkey) -> Bool {
        ((a.w0 ^ b.w0) | (a.w1 ^ b.w1) | (a.w2 ^ b.w2) | (a.w3 ^ b.w3)) == 0
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(w0)
        hasher.combine(w1)
        hasher.combine(w2)
        hasher.combine(w3)
    }

    /// Calls `body` with the 32 bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (w0, w1, w2, w3), body)
    }

    /// The bytes as text (for the site API's `GET /users/{id}`, which returns them).
    public var text: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    public var description: String { "<passkey>" }
    public var debugDescription: String { "<passkey>" }
}

/// Compares two byte strings in time that depends on their lengths only (for the site API's key).
public func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    var diff = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
    var ia = a.startIndex
    var ib = b.startIndex
    // Walk the longer one in full so the time does not depend on where they differ.
    for _ in 0..<max(a.count, b.count) {
        let x: UInt8 = ia == a.endIndex ? 0 : a[ia]
        let y: UInt8 = ib == b.endIndex ? 0 : b[ib]
        diff |= x ^ y
        if ia != a.endIndex { ia = a.index(after: ia) }
        if ib != b.endIndex { ib = b.index(after: ib) }
    }
    return diff == 0
}
