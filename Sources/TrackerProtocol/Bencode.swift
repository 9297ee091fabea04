/// Writes bencode (BEP 3) into a byte array. Callers write dictionary keys in sorted order.
public struct BencodeWriter {
    public var bytes: [UInt8]
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func dictStart() { bytes.append(UInt8(ascii: "d")) }
    @inline(__always) public mutating func listStart() { bytes.append(UInt8(ascii: "l")) }
    @inline(__always) public mutating func end() { bytes.append(UInt8(ascii: "e")) }

    public mutating func int(_ v: Int) {
        bytes.append(UInt8(ascii: "i"))
        decimalASCII(v)
        bytes.append(UInt8(ascii: "e"))
    }

    /// A byte string from an ASCII key literal.
    public mutating func key(_ s: StaticString) {
        decimalASCII(s.utf8CodeUnitCount)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public mutating func string<C: Collection>(_ b: C) where C.Element == UInt8 {
        decimalASCII(b.count)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: b)
    }

    public mutating func string(_ s: String) { string(Array(s.utf8)) }

    /// Writes a byte-string length prefix; the caller appends exactly `length` bytes after it.
    public mutating func stringHeader(length: Int) {
        decimalASCII(length)
        bytes.append(UInt8(ascii: ":"))
    }

    @inline(__always)
    mutating func decimalASCII(_ v: Int) {
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            decimalASCII(v == Int.min ? Int.max : -v)
            return
        }
        if v < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(v))
            return
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let n = withUnsafeMutableBytes(of: &tmp) { buf -> Int in
            var x = v, i = buf.count
            while x > 0 {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[i...]))
            return buf.count - i
        }
        _ = n
    }
}

/// A decoded bencode value: for tests, the benchmark's response checks, and tooling.
public indirect enum BencodeValue: Equatable, Sendable {
    case int(Int)
    case bytes([UInt8])
    case list([BencodeValue])
    case dict([([UInt8], BencodeValue)])

    public static func == (a: BencodeValue, b: BencodeValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): x == y
        case (.bytes(let x), .bytes(let y)): x == y
        case (.list(let x), .list(let y)): x == y
        case (.dict(let x), .dict(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public subscript(key: String) -> BencodeValue? {
        guard case .dict(let entries) = self else { return nil }
        let k = Array(key.utf8)
        return entries.first { $0.0 == k }?.1
    }

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    public var bytesValue: [UInt8]? { if case .bytes(let v) = self { v } else { nil } }
    public var stringValue: String? { bytesValue.map { String(decoding: $0, as: UTF8.self) } }
    public var listValue: [BencodeValue]? { if case .list(let v) = self { v } else { nil } }
    public var dictEntries: [([UInt8], BencodeValue)]? { if case .dict(let v) = self { v } else { nil } }

    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public var offset: Int
        public var what: String
        public var description: String { "bencode: \(what) at byte \(offset)" }
    }

    /// Decodes exactly one value spanning all of `bytes`. Rejects unsorted or duplicate
    /// dictionary keys, leading zeros and `-0`, so that a test that decodes a reply also checks it
    /// is canonical.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> BencodeValue {
        var i = 0
        let v = try decodeValue(bytes, &i, depth: 0)
        guard i == bytes.count else { throw DecodeError(offset: i, what: "trailing bytes") }
        return v
    }

    private static func decodeValue(_ b: [UInt8], _ i: inout Int, depth: Int) throws(DecodeError) -> BencodeValue {
        guard depth < 64 else { throw DecodeError(offset: i, what: "nesting too deep") }
        guard i < b.count else { throw DecodeError(offset: i, what: "unexpected end") }
        switch b[i] {
        case UInt8(ascii: "i"):
            i += 1
            let start = i
            guard let e = b[i...].firstIndex(of: UInt8(ascii: "e")) else { throw DecodeError(offset: i, what: "unterminated int") }
            let text = b[start..<e]
            guard let v = Int(String(decoding: text, as: UTF8.self)),
                text.first != UInt8(ascii: "0") || text.count == 1,
                !(text.first == UInt8(ascii: "-") && (text.dropFirst().first == UInt8(ascii: "0")))
            else { throw DecodeError(offset: start, what: "bad int") }
            i = e + 1
            return .int(v)
        case UInt8(ascii: "l"):
            i += 1
            var items: [BencodeValue] = []
            while i < b.count, b[i] != UInt8(ascii: "e") { items.append(try decodeValue(b, &i, depth: depth + 1)) }
            guard i < b.count else { throw DecodeError(offset: i, what: "unterminated list") }
            i += 1
            return .list(items)
        case UInt8(ascii: "d"):
            i += 1
            var entries: [([UInt8], BencodeValue)] = []
            while i < b.count, b[i] != UInt8(ascii: "e") {
                let keyOffset = i
                guard case .bytes(let k) = try decodeValue(b, &i, depth: depth + 1) else {
                    throw DecodeError(offset: keyOffset, what: "non-string key")
                }
                if let last = entries.last?.0, !last.lexicographicallyPrecedes(k) {
                    throw DecodeError(offset: keyOffset, what: "unsorted or duplicate key")
                }
                entries.append((k, try decodeValue(b, &i, depth: depth + 1)))
            }
            guard i < b.count else { throw DecodeError(offset: i, what: "unterminated dict") }
            i += 1
            return .dict(entries)
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let colon = b[i...].firstIndex(of: UInt8(ascii: ":")),
                let n = Int(String(decoding: b[i..<colon], as: UTF8.self)),
                b[i] != UInt8(ascii: "0") || colon == i + 1
            else { throw DecodeError(offset: i, what: "bad string length") }
            let start = colon + 1
            guard n <= b.count - start else { throw DecodeError(offset: i, what: "string past end") }
            i = start + n
            return .bytes(Array(b[start..<i]))
        default:
            throw DecodeError(offset: i, what: "unexpected byte")
        }
    }
}
