import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Prometheus' standard `process_*` metrics, read from `/proc` at each scrape, and
/// `squall_build_info`.
enum ProcessMetrics {
    static func exposition(version: String) -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ value: String, type: String = "gauge") {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        if let rss = residentBytes() { gauge("process_resident_memory_bytes", "Resident memory size in bytes.", "\(rss)") }
        if let fds = openDescriptors() { gauge("process_open_fds", "Number of open file descriptors.", "\(fds)") }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            gauge("process_max_fds", "Maximum number of open file descriptors.", "\(limit.rlim_cur)")
        }
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            let seconds =
                Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
                + Double(usage.ru_stime.tv_usec) / 1e6
            gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "\(seconds)", type: "counter")
        }
        if let start = startTime() {
            gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", "\(start)")
        }
        out += "# HELP squall_build_info Squall's version and the Swift it was built with; always 1.\n# TYPE squall_build_info gauge\n"
        out += #"squall_build_info{version="\#(version)",swift="\#(swiftVersion)"} 1"# + "\n"
        return out
    }

    static var swiftVersion: String {
        #if compiler(>=6.3)
            "6.3"
        #elseif compiler(>=6.2)
            "6.2"
        #else
            "6"
        #endif
    }

    /// VmRSS from `/proc/self/statm` (its second field, in pages).
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openDescriptors() -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return entries.count - 1  // the directory's own descriptor, open while it is listed
    }

    /// Boot time (`btime` in `/proc/stat`) plus the process's start in clock ticks after boot
    /// (field 22 of `/proc/self/stat`), whole seconds.
    static func startTime() -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let btimeLine = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let btime = Int(btimeLine.dropFirst(6))
        else { return nil }
        // Fields after the command name start at field 3 (state).
        let after = stat[stat.index(after: close)...].split(separator: " ")
        guard after.count > 19, let ticks = Int(after[19]) else { return nil }
        return btime + ticks / Int(sysconf(Int32(_SC_CLK_TCK)))
    }
}
