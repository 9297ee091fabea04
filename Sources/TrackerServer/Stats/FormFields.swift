import TrackerCore

/// `key=value&...` of an HTML form or a script's request (DataTables' parameters): both sides
/// percent-decoded, `+` as a space, as UTF-8 text. At most `limit` fields are read and each
/// key is kept once (the first); malformed escapes are kept as they are.
enum FormFields {
    static func parse(_ query: ArraySlice<UInt8>, limit: Int = 64) -> [String: String] {
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
