#!/usr/bin/env python3
"""A libtorrent client for Squall's interop tests (Debian's python3-libtorrent).

Downloads (or seeds) one torrent with DHT, local discovery, UPnP and NAT-PMP off, so the
tracker is the only source of peers. Listens on 127.0.0.1 and ::1 on one port, so it announces
to each of the torrent's trackers over the family of that tracker's address, with one peer_id.
HTTPS trackers are verified against the CA in SSL_CERT_FILE (OpenSSL's default paths).

Prints one line per event, flushed:
  reply <tracker url> <number of peers>     a tracker's successful reply
  warning <tracker url> <message>           a tracker's warning
  error <tracker url> <message>             a failed announce
  finished                                  every piece is downloaded and checked
Runs until killed. An optional fourth argument lowers libtorrent's floor on the tracker's
interval (min_announce_interval, 300 s by default) to that many seconds, for a seeder whose
uploads a test waits for.
"""
import sys
import time

import libtorrent as lt


def main():
    torrent, save_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    extra = {"min_announce_interval": int(sys.argv[4])} if len(sys.argv) > 4 else {}
    session = lt.session({
        **extra,
        "listen_interfaces": "127.0.0.1:%d,[::1]:%d" % (port, port),
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "validate_https_trackers": True,
        "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
        | lt.alert.category_t.tracker_notification,
    })
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save_path
    session.add_torrent(params)

    def say(*words):
        print(" ".join(str(w) for w in words), flush=True)

    while True:
        session.wait_for_alert(500)
        for a in session.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert):
                say("reply", a.tracker_url(), a.num_peers)
            elif isinstance(a, lt.tracker_warning_alert):
                say("warning", a.tracker_url(), a.message())
            elif isinstance(a, lt.tracker_error_alert):
                say("error", a.tracker_url(), a.message())
            elif isinstance(a, lt.torrent_finished_alert):
                say("finished")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
