public import TrackerCore

/// The PROXY protocol header (haproxy's `proxy-protocol.txt`, versions 1 and 2) that an L4
/// load balancer sends before anything else on a connection it relays, naming the client.
///
/// A pure function of the bytes received so far, like `HTTPHeadParser`: call it again with
/// more until it stops answering `.incomplete`. A listener that expects the header never
/// guesses (the specification forbids it): anything else is `.invalid`.
public enum ProxyHeader {
    public enum Outcome: Equatable, Sendable {
        case incomplete
        /// The header, `consumed` bytes long. `client` is nil when the proxy speaks for itself
        /// (v2 `LOCAL`, a health check; v1 `UNKNOWN`; a family other than TCP over IPv4 or
        /// IPv6): the connection's own address stands.
        case header(client: Endpoint?, consumed: Int)
        case invalid
    }

    /// The longest version 1 header, CRLF included.
    public static let maxV1Bytes = 107
    /// The longest version 2 header accepted: the 16 fixed bytes and up to 2 KiB of addresses
    /// and TLVs (what balancers send is far less; the format would allow 64 KiB).
    public static let maxV2Bytes = 16 + 2048
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)

    public static func parse(_ buf: UnsafeRawBufferPointer) -> Outcome {
        guard !buf.isEmpty else { return .incomplete }
        if buf[0] == v2Signature[0] { return parseV2(buf) }
        if buf[0] == v1Prefix[0] { return parseV1(buf) }
        return .invalid
    }

    // MARK: version 2

    private static func parseV2(_ buf: UnsafeRawBufferPointer) -> Outcome {
        for i in 0..<min(buf.count, 12) where buf[i] != v2Signature[i] { return .invalid }
        guard buf.count >= 16 else { return .incomplete }
        let (versionCommand, family) = (buf[12], buf[13])
        let length = Int(buf[14]) << 8 | Int(buf[15])
        guard versionCommand >> 4 == 2, versionCommand & 0x0F <= 1, 16 + length <= maxV2Bytes else { return .invalid }
        guard buf.count >= 16 + length else { return .incomplete }
        let consumed = 16 + length
        // LOCAL: the proxy's own connection (a health check); the addresses are not read.
        if versionCommand & 0x0F == 0 { return .header(client: nil, consumed: consumed) }
        let a = UnsafeRawBufferPointer(rebasing: buf[16..<consumed])
        switch family {
        case 0x11:  // TCP over IPv4: source, destination, source port, destination port.
            guard a.count >= 12 else { return .invalid }
            let ip = UInt32(a[0]) << 24 | UInt32(a[1]) << 16 | UInt32(a[2]) << 8 | UInt32(a[3])
            return .header(client: Endpoint(address: .v4(IPv4Address(ip)), port: UInt16(a[8]) << 8 | UInt16(a[9])), consumed: consumed)
        case 0x21:  // TCP over IPv6.
            guard a.count >= 36, let ip = IPv6Address(Array(a[0..<16])) else { return .invalid }
            let port = UInt16(a[32]) << 8 | UInt16(a[33])
            return .header(client: Endpoint(address: PeerAddress.v6(ip).normalized, port: port), consumed: consumed)
        case 0x00, 0x12, 0x22, 0x31, 0x32:
            // UNSPEC, UDP, or a UNIX socket: nothing Squall can use; the connection's address stands.
            return .header(client: nil, consumed: consumed)
        default:
            return .invalid
        }
    }

    // MARK: version 1

    private static func parseV1(_ buf: UnsafeRawBufferPointer) -> Outcome {
        for i in 0..<min(buf.count, v1Prefix.count) where buf[i] != v1Prefix[i] { return .invalid }
        var end = -1
        for i in 0..<min(buf.count, maxV1Bytes) where buf[i] == UInt8(ascii: "\n") {
            end = i
            break
        }
        if end < 0 { return buf.count >= maxV1Bytes ? .invalid : .incomplete }
        guard end > 0, buf[end - 1] == UInt8(ascii: "\r") else { return .invalid }
        let line = Array(buf[v1Prefix.count..<(end - 1)])
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        let consumed = end + 1
        guard let proto = fields.first else { return .invalid }
        if proto.elementsEqual("UNKNOWN".utf8) { return .header(client: nil, consumed: consumed) }
        guard fields.count == 5, let sourcePort = port(fields[3]), port(fields[4]) != nil else { return .invalid }
        // Both addresses of the family the protocol names.
        let v4 = proto.elementsEqual("TCP4".utf8)
        guard v4 || proto.elementsEqual("TCP6".utf8), let client = PeerAddress(text: fields[1]),
            let server = PeerAddress(text: fields[2])
        else { return .invalid }
        for a in [client, server] {
            switch a {
            case .v4: guard v4 else { return .invalid }
            case .v6: guard !v4 else { return .invalid }
            }
        }
        return .header(client: Endpoint(address: client.normalized, port: sourcePort), consumed: consumed)
    }

    /// 0 to 65535 in decimal, no sign, no leading zero.
    private static func port(_ s: ArraySlice<UInt8>) -> UInt16? {
        guard (1...5).contains(s.count), s.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            s.count == 1 || s.first != UInt8(ascii: "0")
        else { return nil }
        let n = s.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return n <= 65535 ? UInt16(n) : nil
    }
}
