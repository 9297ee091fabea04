import COpenSSL

/// SHA-256 through OpenSSL, for comparing secrets without revealing their length or content
/// through timing: compare the digests, in constant time.
public enum Digest {
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                EVP_Digest(
                    input.baseAddress, input.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1 && length == 32, "SHA-256 is always available in OpenSSL 3")
        return out
    }

    /// Whether `a` and `b` are the same secret: their SHA-256 digests compared in constant time,
    /// so neither the length nor a common prefix shows in how long it takes.
    public static func sameSecret(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let x = sha256(a), y = sha256(b)
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
