import COpenSSL
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import TrackerTestSupport

@testable import TrackerTLS

/// `TLSServerHandler` on an `EmbeddedChannel`, against an OpenSSL client over memory BIOs: the
/// handshake, application data both ways, plaintext HTTP on the TLS port, the handshake deadline.
@Suite struct TLSServerHandlerTests {
    struct Fixed: TLSContextProvider {
        let current: TLSContextSet
    }

    /// A channel whose only handler is a `TLSServerHandler` for the fixture certificate.
    static func channel(_ f: TLSFixtures, timeout: TimeAmount = .seconds(10), failures: FailureLog? = nil) throws -> EmbeddedChannel {
        let provider = Fixed(current: try TLSContextSet(pairs: [(f.cert, f.key)]))
        var onFailure: (@Sendable (String) -> Void)?
        if let failures { onFailure = { failures.add($0) } }
        let handler = TLSServerHandler(provider: provider, handshakeTimeout: timeout, onHandshakeFailure: onFailure)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        return channel
    }

    final class FailureLog: Sendable {
        let reasons = Mutex<[String]>([])
        func add(_ r: String) { reasons.withLock { $0.append(r) } }
    }

    /// Ciphertext the handler wrote, handed to the client.
    static func pump(_ channel: EmbeddedChannel, to client: TLSChunkTests.Client) throws {
        while let b = try channel.readOutbound(as: ByteBuffer.self) {
            b.withUnsafeReadableBytes { client.feed($0) }
        }
    }

    /// Ciphertext the client wrote, handed to the handler.
    static func pump(_ client: TLSChunkTests.Client, to channel: EmbeddedChannel) throws {
        var bytes: [UInt8] = []
        TLSChunkTests.Client.move(client.takeOutput) { bytes += $0 }
        if !bytes.isEmpty { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
    }

    static func handshake(_ client: TLSChunkTests.Client, _ channel: EmbeddedChannel) throws {
        for _ in 0..<10 {
            let r = SSL_do_handshake(client.ssl)
            try pump(client, to: channel)
            try pump(channel, to: client)
            if r == 1 { return }
        }
        throw TLSError("the handshake did not finish")
    }

    @Test func aHandshakeThenRequestsAndRepliesBothWays() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let channel = try Self.channel(f)
        let client = try TLSChunkTests.Client()
        try Self.handshake(client, channel)
        // Client to server: the request arrives as plaintext for the next handler.
        let request = Array("GET /health HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        #expect(request.withUnsafeBytes { SSL_write(client.ssl, $0.baseAddress, Int32($0.count)) } == Int32(request.count))
        try Self.pump(client, to: channel)
        var plaintext: [UInt8] = []
        while let b = try channel.readInbound(as: ByteBuffer.self) { plaintext += b.readableBytesView }
        #expect(plaintext == request)
        // Server to client: a reply written by the next handler leaves encrypted.
        let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        try channel.writeOutbound(ByteBuffer(bytes: reply))
        var raw: [UInt8] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { raw += b.readableBytesView }
        #expect(!raw.isEmpty && raw != reply, "the reply left as ciphertext")
        raw.withUnsafeBytes { client.feed($0) }
        #expect(client.readAll() == reply)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func plainHTTPOnTheTLSPortIsTold400AndClosed() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let channel = try Self.channel(f)
        try channel.writeInbound(ByteBuffer(string: "GET /announce HTTP/1.1\r\n\r\n"))
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        #expect(out.hasPrefix("HTTP/1.1 400 "), "\(out)")
        #expect(!channel.isActive)
    }

    @Test func aClientThatNeverFinishesTheHandshakeIsClosedAtTheDeadline() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let failures = FailureLog()
        let channel = try Self.channel(f, timeout: .seconds(10), failures: failures)
        // Half a ClientHello's record header, then silence.
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01]))
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(failures.reasons.withLock { $0 } == ["handshake timeout"])
    }
}
