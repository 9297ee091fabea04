import TrackerCore
import TrackerProtocol

/// The statistics page: a summary, the torrents table (DataTables in server-side mode over
/// `/stats/torrents.json`, with a server-rendered first page for browsers without the
/// scripts), a torrent's peers on click, and charts of the last hour. Every value written into
/// the HTML is escaped; the page's only script is `script` below, served from `/stats/assets/`,
/// so the Content-Security-Policy allows no inline script.
enum StatsPage {
    static let contentSecurityPolicy =
        "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func html(_ s: StatsSummary, firstPage: [TorrentRow], assets: StatsAssets) -> String {
        var rows: [(String, String)] = [
            ("Version", s.version), ("Uptime", "\(s.uptime) s"), ("Store", "\(s.store) (\(s.storeUp ? "up" : "down"))"),
        ]
        if let t = s.totals {
            rows += [
                ("Torrents", "\(t.torrents)"), ("Peers", "\(t.peers)"), ("Seeders", "\(t.seeders)"), ("Leechers", "\(t.leechers)"),
                ("Peers on IPv4 only", "\(t.ipv4Only)"), ("Peers on IPv6 only", "\(t.ipv6Only)"), ("Peers on both", "\(t.dualStack)"),
            ]
        }
        for t in Transport.allCases {
            rows.append(("Announces per second (\(t.rawValue.uppercased()))", format(s.perSecond(s.announces[t] ?? 0))))
            rows.append(("Scrapes per second (\(t.rawValue.uppercased()))", format(s.perSecond(s.scrapes[t] ?? 0))))
        }
        if let c = s.certificateExpiresIn { rows.append(("Certificate expires in", "\(c / 86400) days")) }
        let summary = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        let body = firstPage.map { r in
            "<tr><td>\(r.infoHash.raw.hex)</td><td>\(r.seeders)</td><td>\(r.leechers)</td><td>\(r.completed)</td>"
                + "<td>\(r.ipv4)</td><td>\(r.ipv6)</td><td>\(r.idle) s ago</td></tr>"
        }.joined(separator: "\n")
        var head = ["<link rel=\"stylesheet\" href=\"/stats/assets/squall-stats.css\">"]
        var scripts: [String] = []
        if assets.hasTable {
            head.append("<link rel=\"stylesheet\" href=\"/stats/assets/jquery-datatables/css/jquery.dataTables.min.css\">")
            scripts += ["jquery/jquery.min.js", "jquery-datatables/jquery.dataTables.min.js"]
            if assets.hasCharts { scripts.append("chart.js/chart.min.js") }
            scripts.append("squall-stats.js")
        }
        let charts =
            assets.hasCharts
            ? """
            <h2>The last hour</h2>
            <div class="chart"><canvas id="announces-chart"></canvas></div>
            <div class="chart"><canvas id="peers-chart"></canvas></div>
            """ : ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Squall tracker statistics</title>
            \(head.joined(separator: "\n"))
            </head><body>
            <h1>Squall tracker statistics</h1>
            <table id="summary">
            \(summary)
            </table>
            \(charts)
            <h2>Torrents</h2>
            <table id="torrents" class="display">
            <thead><tr><th>info_hash</th><th>seeders</th><th>leechers</th><th>completed</th><th>IPv4 peers</th><th>IPv6 peers</th><th>last announce</th></tr></thead>
            <tbody>
            \(body)
            </tbody>
            </table>
            <div id="detail"></div>
            \(scripts.map { "<script src=\"/stats/assets/\($0)\"></script>" }.joined(separator: "\n"))
            </body></html>

            """
    }

    static func format(_ d: Double) -> String {
        let hundredths = Int((d * 100).rounded())
        return "\(hundredths / 100).\(String(hundredths % 100 + 100).dropFirst())"
    }

    /// HTML text and attribute escaping.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static let stylesheet = """
        body { font-family: sans-serif; margin: 2em; color: #222; }
        #summary th { text-align: left; padding-right: 2em; font-weight: normal; color: #555; }
        .chart { width: 45%; display: inline-block; margin-right: 4%; }
        #torrents td:first-child, #peers td:first-child { font-family: monospace; }
        #torrents tbody tr { cursor: pointer; }
        #peers { border-collapse: collapse; margin-top: 1em; }
        #peers td, #peers th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }

        """

    /// The page's script. It builds the detail view with `textContent` only, so nothing a peer
    /// sends can become markup. `#search=HEX`, `#order=COLUMN,asc|desc` and `#torrent=HEX` in
    /// the address set the initial state (links and tests use them).
    static let script = #"""
        (function () {
          'use strict';
          function params() {
            var out = {};
            location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
              var i = kv.indexOf('=');
              if (i > 0) { out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); }
            });
            return out;
          }
          function ago(s) {
            if (s < 60) { return s + ' s ago'; }
            if (s < 3600) { return Math.floor(s / 60) + ' min ago'; }
            return Math.floor(s / 3600) + ' h ago';
          }
          function append(parent, tag, text) {
            var e = document.createElement(tag);
            e.textContent = text;
            parent.appendChild(e);
            return e;
          }
          function showTorrent(hex) {
            if (!/^[0-9a-fA-F]{40}$/.test(hex)) { return; }
            fetch('/stats/torrents/' + hex + '.json', { credentials: 'same-origin' })
              .then(function (r) { return r.json(); })
              .then(function (d) {
                var box = document.getElementById('detail');
                box.textContent = '';
                append(box, 'h2', 'Peers of ' + hex);
                if (!d.peers) { append(box, 'p', d.error || 'no peers'); return; }
                var table = document.createElement('table');
                table.id = 'peers';
                var head = document.createElement('tr');
                var withAddresses = d.peers.some(function (p) { return 'ipv4' in p || 'ipv6' in p; });
                ['peer_id', 'client', 'role', 'families', 'port', 'last announce'].concat(withAddresses ? ['addresses'] : [])
                  .forEach(function (h) { append(head, 'th', h); });
                table.appendChild(head);
                d.peers.forEach(function (p) {
                  var tr = document.createElement('tr');
                  append(tr, 'td', p.peer_id);
                  append(tr, 'td', p.client || '');
                  append(tr, 'td', p.role);
                  append(tr, 'td', p.families.join(' + '));
                  append(tr, 'td', String(p.port));
                  append(tr, 'td', ago(p.idle));
                  if (withAddresses) { append(tr, 'td', [p.ipv4, p.ipv6].filter(Boolean).join(' ')); }
                  table.appendChild(tr);
                });
                box.appendChild(table);
              });
          }
          function charts() {
            if (!window.Chart) { return; }
            fetch('/stats/history.json', { credentials: 'same-origin' })
              .then(function (r) { return r.json(); })
              .then(function (h) {
                var labels = h.points.map(function (p) { return new Date(p[0] * 1000).toLocaleTimeString(); });
                [['announces-chart', 'announces per second', 1], ['peers-chart', 'peers', 2]].forEach(function (c) {
                  var canvas = document.getElementById(c[0]);
                  // Axes from zero (a new tracker's first samples are 0, which Chart.js would
                  // centre on an axis from -1 to 1); whole peers.
                  var chart = new window.Chart(canvas, {
                    type: 'line',
                    data: { labels: labels, datasets: [{ label: c[1], data: h.points.map(function (p) { return p[c[2]]; }) }] },
                    options: {
                      animation: false,
                      scales: { y: { min: 0, suggestedMax: 1, ticks: { precision: c[2] === 2 ? 0 : 1 } } }
                    }
                  });
                  // What was drawn, for whoever reads the page without seeing it.
                  canvas.setAttribute('data-points', String(h.points.length));
                  canvas.setAttribute('data-y-min', String(chart.scales.y.min));
                  canvas.setAttribute('data-y-max', String(chart.scales.y.max));
                });
              });
          }
          var p = params();
          var order = (p.order || '1,desc').split(',');
          var table = window.jQuery('#torrents').DataTable({
            serverSide: true,
            searchDelay: 300,
            pageLength: 25,
            ajax: { url: '/stats/torrents.json' },
            order: [[parseInt(order[0], 10) || 0, order[1] === 'asc' ? 'asc' : 'desc']],
            search: { search: p.search || '' },
            columns: [
              { render: window.jQuery.fn.dataTable.render.text() }, null, null, null, null, null,
              { render: function (d, type) { return type === 'display' ? ago(d) : d; } }
            ]
          });
          window.jQuery('#torrents tbody').on('click', 'tr', function () {
            var d = table.row(this).data();
            if (d) { showTorrent(d[0]); }
          });
          if (p.torrent) { showTorrent(p.torrent); }
          charts();
        })();

        """#
}
