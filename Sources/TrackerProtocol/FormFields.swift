public import TrackerCore

/// `key=value&...` of an HTML form or a script's request (DataTables' parameters): both sides
/// percent-decoded, `+` as a space, as UTF-8 text. At most `limit` fields are read and each
/// key is kept once (the first); malformed escapes are kept as they are.
public enum FormFields {
    public static func parse(_ query: ArraySlice<UInt8>, limit: Int = 64) -> [String: String] {
        var out: [String: String] = [:]
        for pair in query.split(separator: UInt8(ascii: "&"), maxSplits: limit, omittingEmptySubsequences: true).prefix(limit) {
            let eq = pair.firstIndex(of: UInt8(ascii: "="))
            let key = decode(pair[pair.startIndex..<(eq ?? pair.endIndex)])
            let value = eq.map { decode(pair[($0 + 1)...]) } ?? ""
            if out[key] == nil { out[key] = value }
        }
        return out
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%"), i + 2 < bytes.endIndex, let hi = hexDigitValue(bytes[i + 1]), let lo = hexDigitValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension TorrentQuery {
    /// The rows most one page carries, whatever `length` asks.
    public static let maxLength = 500

    /// DataTables' server-side parameters: `start`, `length` (-1, "all", is capped like any
    /// other), `search[value]` (an info_hash prefix; only its hex digits count),
    /// `order[0][column]` and `order[0][dir]`. Anything missing or malformed takes the default.
    public init(dataTables p: [String: String]) {
        let length = Int(p["length"] ?? "").map { $0 < 0 ? Self.maxLength : min($0, Self.maxLength) } ?? 25
        let column = Int(p["order[0][column]"] ?? "").flatMap(Column.init(rawValue:)) ?? .seeders
        self.init(
            start: Int(p["start"] ?? "") ?? 0, length: length, search: (p["search[value]"] ?? "").filter(\.isHexDigit),
            order: column, ascending: p["order[0][dir]"] == "asc")
    }
}

/// Writes JSON string literals. Besides what JSON requires, `<`, `>`, `&` and `'` are escaped,
/// so a value can never close a script element or an attribute it ends up in.
public enum JSONText {
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "<", ">", "&", "'", "\u{2028}", "\u{2029}":
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            case _ where u.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
