import Foundation

/// Where the tests' files go: one directory per test process in the system's temporary
/// directory, removed when the process exits, so a run leaves nothing behind in /tmp (each
/// helper also removes its own files when it can; a crashed or killed run leaves its one
/// directory).
public enum TestFiles {
    public static let directory: String = {
        let dir = NSTemporaryDirectory() + "squall-tests-\(getpid())"
        // Left by an earlier process that had this pid and was killed.
        try? FileManager.default.removeItem(atPath: dir)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot create \(dir): \(error)")
        }
        atexit { try? FileManager.default.removeItem(atPath: TestFiles.directory) }
        return dir
    }()

    /// A path of its own in `directory`: `name`, eight random hex digits, then `suffix`
    /// (short, for unix sockets inside it).
    public static func path(_ name: String, suffix: String = "") -> String {
        directory + "/" + name + "-" + UUID().uuidString.prefix(8) + suffix
    }
}
