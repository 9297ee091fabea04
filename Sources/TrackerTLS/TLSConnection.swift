import COpenSSL

/// One TLS session over memory BIOs: ciphertext goes in with `feed`, comes out with
/// `takeOutput`; plaintext comes out of `read` and goes in through `write`. The sole owner of its
/// `SSL` (which owns both BIOs). Holds its context set, and so its certificates, alive.
final class TLSConnection {
    enum Progress: Equatable {
        case needMoreInput
        case done
        case closedByPeer
        case failed(String)
    }

    let contexts: TLSContextSet
    private let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer
    private(set) var handshakeComplete = false

    init(contexts: TLSContextSet) throws(TLSError) {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(contexts.defaultContext.pointer) else { throw OpenSSLErrors.error("cannot create a TLS session") }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSLErrors.error("cannot create TLS buffers")
        }
        SSL_set_bio(ssl, input, output)
        SSL_set_accept_state(ssl)
        self.contexts = contexts
        self.ssl = ssl
        self.input = input
        self.output = output
    }

    deinit { SSL_free(ssl) }

    /// The most one OpenSSL call is given: its lengths are `Int32`, so a larger buffer goes in
    /// chunks instead of trapping on the conversion.
    static let maxChunk = 1 << 30

    /// Calls `body` with consecutive pieces of `bytes` of at most `chunk` bytes while it
    /// returns true; returns whether every piece was taken.
    private static func inChunks(
        _ bytes: UnsafeRawBufferPointer, _ chunk: Int, _ body: (UnsafeRawPointer, Int32) -> Bool
    ) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = min(chunk, bytes.count - offset)
            guard body(base + offset, Int32(n)) else { return false }
            offset += n
        }
        return true
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        _ = Self.inChunks(bytes, Self.maxChunk) { BIO_write(input, $0, $1) == $1 }
    }

    /// Advances the handshake with the input fed so far.
    func handshake() -> Progress {
        guard !handshakeComplete else { return .done }
        OpenSSLErrors.clear()
        let r = SSL_do_handshake(ssl)
        if r == 1 {
            handshakeComplete = true
            return .done
        }
        return progress(after: r)
    }

    /// Decrypts into `into` (at most `capacity` bytes); returns how many, and `.done` when more
    /// may follow or `.needMoreInput` when nothing fed is left to decrypt. A read that empties
    /// both OpenSSL's record buffer and the input says so itself, which spares the caller a
    /// second `SSL_read` only to learn that (one per request on a keep-alive connection).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, progress: Progress) {
        OpenSSLErrors.clear()
        let r = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        if r > 0 { return (Int(r), SSL_pending(ssl) == 0 && BIO_ctrl_pending(input) == 0 ? .needMoreInput : .done) }
        return (0, progress(after: r))
    }

    /// Encrypts all of `bytes` in chunks of at most `chunk` bytes, calling `drain` after each
    /// so the caller can take the ciphertext out (`takeOutput`): the output memory BIO holds at
    /// most about 1.5 GB, so a larger write must be drained as it goes.
    func write(_ bytes: UnsafeRawBufferPointer, chunk: Int = TLSConnection.maxChunk, drain: () -> Void = {}) -> Bool {
        guard bytes.count > 0 else { return true }
        OpenSSLErrors.clear()
        return Self.inChunks(bytes, chunk) {
            guard SSL_write(ssl, $0, $1) == $1 else { return false }
            drain()
            return true
        }
    }

    /// What one `write` from the handler encrypts before its output is taken out.
    static let drainChunk = 1 << 24

    /// Queues a close_notify alert.
    func shutdown() {
        OpenSSLErrors.clear()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    var pendingOutput: Int { Int(BIO_ctrl_pending(output)) }

    /// Moves up to `into.count` bytes of the ciphertext OpenSSL produced into `into`.
    func takeOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return max(0, Int(BIO_read(output, base, Int32(buffer.count))))
    }

    private func progress(after r: Int32) -> Progress {
        switch SSL_get_error(ssl, r) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMoreInput
        case SSL_ERROR_ZERO_RETURN:
            return .closedByPeer
        default:
            return .failed(OpenSSLErrors.error("TLS").description)
        }
    }
}
