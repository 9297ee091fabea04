public import TrackerCore

/// Walks the `key=value` pairs of a raw query string, byte for byte.
///
/// Works on the undecoded bytes: keys are compared raw, values are handed out raw and decoded
/// on demand, so an `info_hash` with any byte value survives exactly.
public struct QueryString {
    public let bytes: UnsafeRawBufferPointer
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Calls `body(key, value)` for each pair in order; a pair without `=` has an empty value.
    /// Return false from `body` to stop early.
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(TrackerFailure) -> Bool) throws(TrackerFailure) {
        var start = 0
        let n = bytes.count
        while start < n {
            var end = start
            var eq = -1
            while end < n, bytes[end] != UInt8(ascii: "&") {
                if eq < 0, bytes[end] == UInt8(ascii: "=") { eq = end }
                end += 1
            }
            if end > start {
                let keyEnd = eq < 0 ? end : eq
                let valueStart = eq < 0 ? end : eq + 1
                let key = UnsafeRawBufferPointer(rebasing: bytes[start..<keyEnd])
                let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<end])
                if try !body(key, value) { return }
            }
            start = end + 1
        }
    }
}

/// Percent-decoding as trackers need it: every `%xx` (either case) becomes that byte, `+` stays a
/// literal plus (BEP 3 clients encode `+` as `%2B`; form encoding's space does not apply), and
/// every other byte passes through unchanged.
public enum PercentDecoding {
    /// Decodes `raw` into exactly 20 bytes without allocating; nil on a bad escape or another length.
    public static func decode20(_ raw: UnsafeRawBufferPointer) -> Bytes20? {
        var words = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        let ok = withUnsafeMutableBytes(of: &words) { out -> Bool in
            var i = 0, o = 0
            let n = raw.count
            while i < n {
                guard o < 20 else { return false }
                let b = raw[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < n, let hi = hexDigitValue(raw[i + 1]), let lo = hexDigitValue(raw[i + 2]) else { return false }
                    out[o] = hi << 4 | lo
                    i += 3
                } else {
                    out[o] = b
                    i += 1
                }
                o += 1
            }
            return o == 20
        }
        guard ok else { return nil }
        return Bytes20(w0: words.0, w1: words.1, w2: words.2, w3: words.3, w4: words.4)
    }

    /// The bytes of a percent-encoded value, decoded as they are read (nothing allocated); a `%`
    /// not followed by two hex digits stands for itself.
    public struct Decoded: Sequence, IteratorProtocol {
        private let raw: UnsafeRawBufferPointer
        private var i = 0
        public init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
        public mutating func next() -> UInt8? {
            guard i < raw.count else { return nil }
            let b = raw[i]
            if b == UInt8(ascii: "%"), i + 2 < raw.count, let hi = hexDigitValue(raw[i + 1]), let lo = hexDigitValue(raw[i + 2]) {
                i += 3
                return hi << 4 | lo
            }
            i += 1
            return b
        }
    }

    /// RFC 3986's unreserved characters: letters, digits, `-`, `.`, `_`, `~`.
    static func unreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Encodes every byte outside RFC 3986's unreserved set as `%XX` (every byte with
    /// `everyByte`, as libtorrent and the benchmark's load generator send hashes).
    public static func encode<C: Collection>(_ bytes: C, everyByte: Bool = false) -> String where C.Element == UInt8 {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 3)
        for b in bytes {
            if !everyByte && unreserved(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension UnsafeRawBufferPointer {
    /// Byte-wise equality with an ASCII literal.
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        return memcmpEqual(self, literal.utf8Start, count)
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for i in 0..<n where a[i] != b[i] { return false }
    return true
}
