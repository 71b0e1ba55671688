//! Class 10, directory probing: the sync answer now carries the team directory (protocol version
//! 2). A signed-in worker's own client forges the directory cursor (a version from the future,
//! a made-up view digest, the largest numbers the wire holds) and sends malformed directory
//! bytes, to learn people outside their scope or a colleague's private phone, or to break the
//! server. Each goes through a real server, which must answer only the worker's own view, refuse
//! malformed bodies as `bad_request`, stay up and stay within the memory bound.

use gridwork_protocol::wire::{self, DirCursor, SyncRequest};
use gridwork_tests::attack::*;

const CLASS: &str = "directory";

/// The raw (decompressed) bytes of a request, to be edited and sent again.
fn raw(req: &SyncRequest) -> Vec<u8> {
    wire::decompress(&wire::encode_request(req), wire::REQUEST_LIMITS).expect("own body")
}

fn post_raw(a: &Attacker, raw: &[u8]) -> Result<wire::SyncResponse, String> {
    a.post_sync(zstd::bulk::compress(raw, 3).expect("compress"))
}

#[test]
fn a_forged_cursor_gets_only_the_workers_own_view() {
    let mut g = Guard::start(CLASS, &[]);
    // A colleague in another community with a private phone, and one in this grid with a
    // private phone too: neither number may reach the worker.
    g.server.admin(&[
        "update-user",
        "--username",
        "worker2",
        "--phone",
        "13700001111",
    ]);
    g.server
        .admin(&["update-user", "--username", "leader", "--clear-phone"]);
    g.server.admin(&[
        "update-user",
        "--username",
        "leader",
        "--phone",
        "13700002222",
        "--share-phone",
        "no",
    ]);
    let w = Attacker::sign_in(&g.url(), "worker");
    for cursor in [
        None,
        Some(DirCursor {
            version: u64::MAX,
            view: 0,
        }),
        Some(DirCursor {
            version: 0,
            view: u64::MAX,
        }),
        Some(DirCursor {
            version: 1,
            view: 0x0123_4567_89ab_cdef,
        }),
    ] {
        let req = SyncRequest {
            version: wire::PROTOCOL_VERSION,
            directory: cursor,
            ..Default::default()
        };
        let body = wire::encode_request(&req);
        let resp = g.must("forged cursor", w.post_sync(body));
        let d = resp
            .directory
            .expect("a forged cursor is answered with the full view");
        assert!(d.full, "{cursor:?}");
        let names: Vec<&str> = d.people.iter().map(|p| p.username.as_str()).collect();
        assert!(
            names.contains(&"worker") && names.contains(&"leader"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"worker2"),
            "another community's worker leaked: {names:?}"
        );
        assert!(
            d.units.iter().all(|u| !u.id.starts_with("baotu")),
            "another community's grids leaked"
        );
        let leader = d.people.iter().find(|p| p.username == "leader").unwrap();
        assert_eq!(leader.phone, None, "a private phone leaked");
    }
    // The raw answer never carries the private numbers, compressed or not.
    let resp = zstd::bulk::decompress(
        &w.http()
            .post(format!("{}/v1/sync", g.url()))
            .bearer_auth(&w.token)
            .header(reqwest::header::CONTENT_TYPE, wire::SYNC_CONTENT_TYPE)
            .header(
                reqwest::header::CONTENT_ENCODING,
                wire::SYNC_CONTENT_ENCODING,
            )
            .body(wire::encode_request(&SyncRequest {
                version: wire::PROTOCOL_VERSION,
                ..Default::default()
            }))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
        64 << 20,
    )
    .unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(!text.contains("13700001111") && !text.contains("13700002222"));
    assert!(!text.contains("李娜"));
    g.check("forged_cursor");
}

#[test]
fn malformed_directory_bytes_are_bad_requests() {
    let mut g = Guard::start(CLASS, &[]);
    let w = Attacker::sign_in(&g.url(), "worker");
    let base = raw(&SyncRequest {
        version: wire::PROTOCOL_VERSION,
        ..Default::default()
    });
    assert_eq!(base.last(), Some(&0), "ends with the absent-cursor tag");
    let cut = &base[..base.len() - 1];
    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("no directory tag", cut.to_vec()),
        ("unknown tag", [cut, &[2]].concat()),
        ("truncated cursor", [cut, &[1, 5, 0, 0]].concat()),
        (
            "varint overflow",
            [cut, &[1], &[0xff; 11], &[0; 8]].concat(),
        ),
        (
            "trailing bytes",
            [cut, &[1, 5], &[0; 8], &[9, 9, 9]].concat(),
        ),
    ];
    // A version 1 body with a directory tail: version 1 has no such field.
    let mut v1 = raw(&SyncRequest {
        version: 1,
        ..Default::default()
    });
    v1.extend_from_slice(&[1, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    bodies.push(("a v1 body with a cursor", v1));
    for (what, body) in bodies {
        let e = post_raw(&w, &body).expect_err(what);
        assert!(
            e.contains("400") && e.contains("bad_request"),
            "{what}: {e}"
        );
        g.assert_alive(what);
    }
    // And the honest request still works.
    let ok = g.must("honest", post_raw(&w, &base));
    assert!(ok.directory.is_some());
    g.check("malformed_directory");
}
