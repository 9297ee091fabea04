public import Logging
public import ServiceLifecycle
public import TrackerTLS
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// Reloads the TLS certificates on SIGHUP: re-reads and validates every file off the event
/// loops, swaps the new set in for new handshakes, and logs each certificate; a reload that
/// fails logs one error line and keeps serving the current certificates. Connections already
/// open, the listeners and the swarms are untouched.
public struct CertificateReloadService: Service {
    let contexts: ReloadableTLSContexts
    let logger: Logger

    public init(contexts: ReloadableTLSContexts, logger: Logger) {
        (self.contexts, self.logger) = (contexts, logger)
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { reload() }
        }
    }

    /// One reload, as SIGHUP triggers it.
    public func reload() {
        do {
            let fresh = try contexts.reload()
            logCertificates(fresh, logger: logger, event: "certificates reloaded")
        } catch {
            logger.error("certificate reload failed, keeping the current certificates", metadata: ["reason": "\(error)"])
        }
    }
}

/// One info line per certificate: file, subject, SANs, serial and expiry.
public func logCertificates(_ set: TLSContextSet, logger: Logger, event: String) {
    let now = Int(time(nil))
    for c in set.contexts {
        logger.info(
            "\(event)",
            metadata: [
                "certificate": "\(c.certificateFile)", "subject": "\(c.subject)",
                "san": "\(c.alternativeNames.joined(separator: ", "))", "serial": "\(c.serial)",
                "expires_in_days": "\((c.notAfter - now) / 86_400)",
            ])
    }
}
