import Foundation

/// The browser files of the statistics page, read once at startup (never on an event loop):
/// jQuery, DataTables and Chart.js from Debian's packages under `stats.assets_dir` (default
/// `/usr/share/javascript`), served from memory under `/stats/assets/`. Only the files listed
/// here are served; a missing one is simply absent, and the page falls back to its
/// server-rendered table. Squall's own script is part of Squall (`StatsPage.script`).
struct StatsAssets: Sendable {
    struct File: Sendable {
        let bytes: [UInt8]
        let contentType: StaticString
    }
    static let paths: [(path: String, type: StaticString)] = [
        ("jquery/jquery.min.js", "text/javascript; charset=utf-8"),
        ("jquery-datatables/jquery.dataTables.min.js", "text/javascript; charset=utf-8"),
        ("jquery-datatables/css/jquery.dataTables.min.css", "text/css; charset=utf-8"),
        ("jquery-datatables/images/sort_asc.png", "image/png"),
        ("jquery-datatables/images/sort_desc.png", "image/png"),
        ("jquery-datatables/images/sort_both.png", "image/png"),
        ("jquery-datatables/images/sort_asc_disabled.png", "image/png"),
        ("jquery-datatables/images/sort_desc_disabled.png", "image/png"),
        ("chart.js/chart.min.js", "text/javascript; charset=utf-8"),
    ]
    let files: [String: File]

    init(directory: String) {
        var files: [String: File] = [:]
        for (path, type) in Self.paths {
            if let data = FileManager.default.contents(atPath: directory + "/" + path) {
                files[path] = File(bytes: Array(data), contentType: type)
            }
        }
        self.files = files
    }

    /// jQuery and DataTables are both there: the table can run in the browser.
    var hasTable: Bool { files["jquery/jquery.min.js"] != nil && files["jquery-datatables/jquery.dataTables.min.js"] != nil }
    var hasCharts: Bool { hasTable && files["chart.js/chart.min.js"] != nil }
}
