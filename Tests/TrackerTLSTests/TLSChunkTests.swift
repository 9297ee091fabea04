import COpenSSL
import Foundation
import Testing
import TrackerTestSupport

@testable import TrackerTLS

/// `TLSConnection` hands OpenSSL at most `chunk` bytes a call (its lengths are `Int32`, so a
/// reply over 2 GiB in one call would trap): a real client handshake, then writes cut at sizes
/// that do not divide them, decrypted byte for byte on the other side.
@Suite struct TLSChunkTests {
    /// An OpenSSL client over memory BIOs, pumped by hand against a server `TLSConnection`.
    final class Client {
        let ctx: OpaquePointer
        let ssl: OpaquePointer
        let input: OpaquePointer
        let output: OpaquePointer

        init() throws {
            guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            guard let ssl = SSL_new(ctx), let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
                SSL_CTX_free(ctx)
                throw TLSError("SSL_new")
            }
            SSL_set_bio(ssl, input, output)
            SSL_set_connect_state(ssl)
            (self.ctx, self.ssl, self.input, self.output) = (ctx, ssl, input, output)
        }
        deinit {
            SSL_free(ssl)
            SSL_CTX_free(ctx)
        }

        /// Moves every pending ciphertext byte from `from` to `to`.
        static func move(_ from: (UnsafeMutableRawBufferPointer) -> Int, _ to: (UnsafeRawBufferPointer) -> Void) {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes(from)
                if n <= 0 { return }
                buffer.withUnsafeBytes { to(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            }
        }
        func takeOutput(_ into: UnsafeMutableRawBufferPointer) -> Int { Int(BIO_read(output, into.baseAddress, Int32(into.count))) }
        func feed(_ bytes: UnsafeRawBufferPointer) { _ = BIO_write(input, bytes.baseAddress, Int32(bytes.count)) }

        func handshake(with server: TLSConnection) throws {
            for _ in 0..<10 {
                let r = SSL_do_handshake(ssl)
                Self.move(takeOutput) { server.feed($0) }
                _ = server.handshake()
                Self.move(server.takeOutput) { feed($0) }
                if r == 1, server.handshakeComplete { return }
            }
            throw TLSError("the handshake did not finish")
        }

        /// Decrypts everything fed so far.
        func readAll() -> [UInt8] {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if n <= 0 { return out }
                out += buffer[..<Int(n)]
            }
        }
    }

    @Test(arguments: [1, 1000, 16384, 70001, 1 << 30])
    func aWriteCutIntoChunksArrivesWhole(chunk: Int) throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let server = try TLSConnection(contexts: TLSContextSet(pairs: [(f.cert, f.key)]))
        let client = try Client()
        try client.handshake(with: server)
        var rng = SystemRandomNumberGenerator()
        let payload = (0..<(chunk == 1 ? 5000 : 300_007)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        #expect(payload.withUnsafeBytes { server.write($0, chunk: chunk) })
        Client.move(server.takeOutput) { client.feed($0) }
        #expect(client.readAll() == payload)
    }

    /// One reply over 2 GiB through TLS: written in chunks, never trapping on OpenSSL's Int32
    /// lengths (about 4.5 GB of memory: `make stress` only, which runs this suite beside `StressTests`).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SQUALL_STRESS"] == "1")) func aTLSWriteOverTwoGiBIsChunked() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let server = try TLSConnection(contexts: TLSContextSet(pairs: [(f.cert, f.key)]))
        let client = try Client()
        try client.handshake(with: server)
        let size = (1 << 31) + 4097
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { payload.deallocate() }
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        // Drained as the handler drains it: the ciphertext is taken out after every chunk.
        var out = 0
        let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { sink.deallocate() }
        let ok = server.write(UnsafeRawBufferPointer(payload), chunk: TLSConnection.drainChunk) {
            while server.pendingOutput > 0 { out += server.takeOutput(into: sink) }
        }
        let pass = ok && out > size && out < size + size / 50
        print(
            "stress: TLS write over 2 GiB: \(pass ? "PASS" : "FAIL"): \(size) bytes written in chunks: \(ok), \(out) bytes of TLS records out"
        )
        #expect(pass)
    }
}
