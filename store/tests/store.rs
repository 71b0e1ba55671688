//! Store API: create, edit, list, search, workflow, history, conflicts, merge, bad input.
mod common;
use common::*;
use gridwork_model::idnum;
use gridwork_model::*;
use gridwork_store::*;

#[test]
fn create_edit_get_list_search() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = store_in(dir.path(), "a.db", worker());
    let id = s
        .create_report(report("G1", "消防通道堵塞"))
        .expect("create");
    let got = s.get(&id).expect("get");
    let AnyRecord::Report(r) = &got.record else {
        panic!("kind")
    };
    assert_eq!(r.title, "消防通道堵塞");
    assert_eq!(r.author, "w1");
    assert_eq!(r.status, ReportStatus::Draft);
    assert_eq!(got.pending_changes, 1);

    s.update_report(
        &id,
        ReportPatch {
            severity: Some(4),
            description: Some("纸箱已部分清理".into()),
            ..Default::default()
        },
    )
    .expect("edit");
    let AnyRecord::Report(r) = s.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.severity, 4);
    assert_eq!(r.description, "纸箱已部分清理");

    s.create_report(report("G2", "垃圾未清运")).expect("create");
    let page = s
        .list(&ListQuery {
            kind: Some(RecordKind::Report),
            grid: Some("G1".into()),
            open_only: true,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, id);
    assert_eq!(page.items[0].severity, Some(4));

    // substring search in Chinese, in title and in description
    assert_eq!(s.search("通道堵", None, 10).expect("search").len(), 1);
    assert_eq!(s.search("部分清理", None, 10).expect("search")[0].id, id);
    let hits = s.search("堆放大量", None, 10).expect("search");
    assert!(
        hits.len() == 1 && hits[0].id != id,
        "old text of the edited report is no longer indexed"
    );
    assert_eq!(
        s.search("垃圾", None, 10).expect("short search").len(),
        1,
        "two characters fall back to titles"
    );
    assert_eq!(s.pending_count().expect("pending"), 3);
}

#[test]
fn paging_is_stable_and_newest_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = store_in(dir.path(), "a.db", worker());
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            s.create_report(report("G1", &format!("报告{i}")))
                .expect("create"),
        );
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s
            .list(&ListQuery {
                limit: Some(10),
                page_token: token.clone(),
                ..Default::default()
            })
            .expect("list");
        seen.extend(page.items.iter().map(|i| i.id.clone()));
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(
        seen, ids,
        "all records once, newest first (ids are time-ordered UUIDv7)"
    );
    let err = s
        .list(&ListQuery {
            page_token: Some("garbage".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref field, .. } if field == "page_token"),
        "{err:?}"
    );
}

#[test]
fn report_workflow_and_roles() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = store_in(dir.path(), "w.db", worker());
    let id = w
        .create_report(NewReport {
            submit: true,
            ..report("G1", "私搭乱建")
        })
        .expect("create");
    // a worker cannot approve their own report
    let err = w.transition(&id, "approved", None).unwrap_err();
    assert!(
        matches!(err, Error::NotPermitted { field: Some(ref f), .. } if f == "status"),
        "{err:?}"
    );
    // illegal transition
    let err = w.transition(&id, "closed", None).unwrap_err();
    assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
    // a supervisor returns it; a comment is required
    let (bytes, _) = w.export_changes(0).expect("export");
    let sup = store_in(dir.path(), "s.db", Identity::new("s1", Role::Supervisor));
    sup.import_changes(&bytes).expect("import");
    let err = sup.transition(&id, "returned", None).unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref field, .. } if field == "comment"),
        "{err:?}"
    );
    sup.transition(&id, "returned", Some("请补充照片".into()))
        .expect("return");
    let (bytes, _) = sup.export_changes(0).expect("export");
    w.import_changes(&bytes).expect("import");
    let AnyRecord::Report(r) = w.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.status, ReportStatus::Returned);
    assert_eq!(
        r.comments.last().map(|c| c.text.as_str()),
        Some("请补充照片")
    );
    let steps: Vec<(&str, &str, &str)> = r
        .transitions
        .iter()
        .map(|t| (t.from.as_str(), t.to.as_str(), t.by.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("draft", "submitted", "w1"),
            ("submitted", "returned", "s1")
        ]
    );
    // resubmit, approve
    w.transition(&id, "submitted", None).expect("resubmit");
    let (bytes, _) = w.export_changes(0).expect("export");
    sup.import_changes(&bytes).expect("import");
    sup.transition(&id, "approved", None).expect("approve");
}

#[test]
fn task_workflow_and_roles() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = store_in(dir.path(), "w.db", worker());
    let t = NewTask {
        grid: "G1".into(),
        title: "走访独居老人".into(),
        description: "本周内上门".into(),
        assignees: vec!["w1".into()],
        due: Some("2026-12-05".into()),
        priority: Priority::High,
        linked_report: None,
        linked_household: None,
    };
    let err = w.create_task(t.clone()).unwrap_err();
    assert!(
        matches!(err, Error::NotPermitted { .. }),
        "a worker cannot assign tasks: {err:?}"
    );
    let leader = store_in(dir.path(), "l.db", Identity::new("l1", Role::Leader));
    let err = leader
        .create_task(NewTask {
            due: Some("05/12/2026".into()),
            ..t.clone()
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref field, .. } if field == "due"),
        "{err:?}"
    );
    let id = leader.create_task(t).expect("assign");
    let (b, _) = leader.export_changes(0).expect("export");
    w.import_changes(&b).expect("import");
    let mine = w
        .list(&ListQuery {
            assignee: Some("w1".into()),
            open_only: true,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    w.transition(&id, "accepted", None).expect("accept");
    w.transition(&id, "in_progress", None).expect("start");
    w.transition(&id, "done", None).expect("done");
    let err = w.transition(&id, "verified", None).unwrap_err();
    assert!(
        matches!(err, Error::NotPermitted { .. }),
        "a worker cannot verify: {err:?}"
    );
    let err = w
        .update_task(
            &id,
            TaskPatch {
                assignees: Some(vec!["w2".into()]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NotPermitted { field: Some(ref f), .. } if f == "assignees"),
        "{err:?}"
    );
    let (b, _) = w.export_changes(0).expect("export");
    leader.import_changes(&b).expect("import");
    leader.transition(&id, "verified", None).expect("verify");
    let open = leader
        .list(&ListQuery {
            kind: Some(RecordKind::Task),
            open_only: true,
            ..Default::default()
        })
        .expect("list");
    assert!(open.items.is_empty());
}

#[test]
fn households_validate_and_mask_ids() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = store_in(dir.path(), "a.db", worker());
    let good = valid_id("37010219450301123");
    let member = Member {
        name: "张桂兰".into(),
        id_number: Some(good.clone()),
        phone: Some("138 0531 0000".into()),
        birth_year: Some(1945),
        tags: vec![MemberTag::ElderlyLivingAlone],
    };
    let hh = NewHousehold {
        grid: "G1".into(),
        address: "文化东路12号3单元401".into(),
        members: vec![member.clone()],
        notes: String::new(),
    };
    let id = s.create_household(hh.clone()).expect("create");
    let mut bad = member.clone();
    let mut wrong = good.clone();
    let last = if wrong.ends_with('1') { '2' } else { '1' };
    wrong.pop();
    wrong.push(last);
    bad.id_number = Some(wrong.clone());
    let err = s
        .create_household(NewHousehold {
            members: vec![member.clone(), bad],
            ..hh.clone()
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref field, .. } if field == "members[1].id_number"),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(&wrong) && !text.contains("张桂兰"),
        "no personal data in errors: {text}"
    );
    let dbg = format!("{member:?}");
    assert!(
        dbg.contains("370102********") && !dbg.contains(&good) && !dbg.contains("张桂兰"),
        "{dbg}"
    );
    assert_eq!(idnum::mask(&good), format!("370102********{}", &good[14..]));
    // a visit to it
    let v = s
        .create_visit(NewVisit {
            grid: "G1".into(),
            household_id: id.clone(),
            visit_type: VisitType::ElderlyCare,
            notes: "老人腿脚不便，需要助餐服务".into(),
            needs: vec![Need {
                tag: NeedTag::Care,
                note: "助餐".into(),
                resolved: false,
            }],
            follow_up_due: Some("2026-12-10".into()),
            location: None,
            visited_at: None,
        })
        .expect("visit");
    let visits = s
        .list(&ListQuery {
            kind: Some(RecordKind::Visit),
            household_id: Some(id),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(visits.items[0].id, v);
    assert_eq!(
        s.search("张桂兰", Some(RecordKind::Household), 5)
            .expect("search")
            .len(),
        1
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = store_in(dir.path(), "a.db", worker());
    let id = s.create_report(report("G1", "井盖缺失")).expect("create");
    let before = s.get(&id).expect("get");
    let cases: Vec<(NewReport, &str)> = vec![
        (
            NewReport {
                title: String::new(),
                ..report("G1", "x")
            },
            "title",
        ),
        (
            NewReport {
                title: "   ".into(),
                ..report("G1", "x")
            },
            "title",
        ),
        (
            NewReport {
                title: "长".repeat(201),
                ..report("G1", "x")
            },
            "title",
        ),
        (
            NewReport {
                description: "长".repeat(20_001),
                ..report("G1", "x")
            },
            "description",
        ),
        (
            NewReport {
                severity: 5,
                ..report("G1", "x")
            },
            "severity",
        ),
        (
            NewReport {
                grid: String::new(),
                ..report("G1", "x")
            },
            "grid",
        ),
        (
            NewReport {
                grid: "G 1; DROP".into(),
                ..report("G1", "x")
            },
            "grid",
        ),
        (
            NewReport {
                location: Some(Location {
                    lat: 91.0,
                    lon: 0.0,
                    accuracy_m: 1.0,
                    address: None,
                }),
                ..report("G1", "x")
            },
            "location.lat",
        ),
        (
            NewReport {
                location: Some(Location {
                    lat: 1.0,
                    lon: f64::NAN,
                    accuracy_m: 1.0,
                    address: None,
                }),
                ..report("G1", "x")
            },
            "location.lon",
        ),
        (
            NewReport {
                location: Some(Location {
                    lat: 1.0,
                    lon: 1.0,
                    accuracy_m: -1.0,
                    address: None,
                }),
                ..report("G1", "x")
            },
            "location.accuracy_m",
        ),
    ];
    for (r, field) in cases {
        let err = s.create_report(r).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { field: ref f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
    let err = s
        .update_report(
            &id,
            ReportPatch {
                title: Some(String::new()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "title"));
    let err = "burning".parse::<ReportCategory>().unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "category"));
    let err = s.get("no-such-id").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    for junk in [
        &b""[..],
        b"GWX1\x05\x00\x00\x00ab",
        b"not an export",
        b"GWX1\x02\x00\x00\x00ab\x04\x00\x00\x00junk",
    ] {
        let err = s.import_changes(junk).unwrap_err();
        assert!(matches!(err, Error::CorruptChange(_)), "{err:?}");
    }
    assert_eq!(s.get(&id).expect("get"), before);
    assert_eq!(s.list(&ListQuery::default()).expect("list").items.len(), 1);
}

#[test]
fn merge_two_stores_and_report_conflicts() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = store_in(dir.path(), "a.db", worker());
    let b = store_in(dir.path(), "b.db", Identity::new("l1", Role::Leader));
    let id = a.create_report(report("G1", "路灯损坏")).expect("create");
    let (x, _) = a.export_changes(0).expect("export");
    b.import_changes(&x).expect("import");
    // concurrent: same scalar, same text, list appends
    a.update_report(
        &id,
        ReportPatch {
            severity: Some(3),
            description: Some("甲：路灯不亮".into()),
            ..Default::default()
        },
    )
    .expect("a");
    a.add_comment(&id, "甲的评论").expect("a comment");
    b.update_report(
        &id,
        ReportPatch {
            severity: Some(1),
            title: Some("路灯损坏（已报修）".into()),
            ..Default::default()
        },
    )
    .expect("b");
    b.add_comment(&id, "乙的评论").expect("b comment");
    let (xa, _) = a.export_changes(0).expect("export");
    let (xb, _) = b.export_changes(0).expect("export");
    // duplicates and any order are harmless
    b.import_changes(&xa).expect("import");
    b.import_changes(&xa).expect("import again");
    a.import_changes(&xb).expect("import");
    let (ra, rb) = (a.get(&id).expect("a").record, b.get(&id).expect("b").record);
    assert_eq!(ra, rb, "replicas converge");
    // text that arrived from the other replica replaced the old text in the search index
    assert!(
        b.search("堆放大量", None, 10).expect("search").is_empty(),
        "old description no longer found"
    );
    assert_eq!(b.search("路灯不亮", None, 10).expect("search").len(), 1);
    let AnyRecord::Report(r) = ra else { panic!() };
    assert_eq!(r.title, "路灯损坏（已报修）");
    assert_eq!(r.description, "甲：路灯不亮");
    assert_eq!(r.comments.len(), 2);
    let c = a.conflicts(&id).expect("conflicts");
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "severity");
    let mut users: Vec<&str> = c[0].values.iter().map(|v| v.user_id.as_str()).collect();
    users.sort_unstable();
    assert_eq!(users, vec!["l1", "w1"]);
    assert_eq!(c[0].values[0].value, serde_json::json!(r.severity));
    assert_eq!(b.conflicts(&id).expect("conflicts"), c);
    // history: who changed what from which device
    let h = a.history(&id).expect("history");
    assert!(
        h.iter().any(|e| e.user_id == "l1"
            && e.fields == vec!["severity", "title"]
            && e.actor == b.actor_id()),
        "{h:?}"
    );
    assert!(h
        .iter()
        .any(|e| e.user_id == "w1" && e.fields.contains(&"comments".to_string())));
}

#[test]
fn compaction_and_reopen_keep_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.db");
    let id;
    {
        let s = Store::open_with(
            &path,
            worker(),
            StoreOptions {
                compact_after: 10,
                ..Default::default()
            },
        )
        .expect("open");
        id = s.create_report(report("G1", "标题")).expect("create");
        for i in 0..30 {
            s.update_report(
                &id,
                ReportPatch {
                    severity: Some(1 + (i % 4) as u8),
                    ..Default::default()
                },
            )
            .expect("edit");
        }
        s.compact().expect("compact");
        assert_eq!(
            s.pending_count().expect("pending"),
            31,
            "outbox survives compaction"
        );
    }
    let s = Store::open(&path, worker()).expect("reopen");
    let AnyRecord::Report(r) = s.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.severity, 1 + (29 % 4) as u8);
    assert_eq!(s.history(&id).expect("history").len(), 31);
    assert_eq!(
        s.sync_side().outbox(usize::MAX).expect("outbox")[0]
            .changes
            .len(),
        31
    );
    assert!(s.integrity_check().expect("check"));
}

#[test]
fn sync_apply_acks_quarantines_and_pulls() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = store_in(dir.path(), "a.db", worker());
    let b = store_in(dir.path(), "b.db", Identity::new("l1", Role::Leader));
    let id = a.create_report(report("G1", "占道经营")).expect("create");
    a.update_report(
        &id,
        ReportPatch {
            severity: Some(3),
            ..Default::default()
        },
    )
    .expect("edit");
    let out = a.sync_side().outbox(1 << 20).expect("outbox");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].changes.len(), 2);
    let first = &out[0].changes[0];
    let second = &out[0].changes[1];
    let changed = a
        .sync_side()
        .apply_sync(SyncApply {
            acked: vec![(id.clone(), first.hash.clone())],
            rejected: vec![Rejection {
                doc_id: id.clone(),
                hash: second.hash.clone(),
                field: Some("severity".into()),
                reason: "not allowed".into(),
            }],
            pulled: vec![],
            cursor: Some("v1:7".into()),
            directory: None,
        })
        .expect("apply");
    assert!(changed.is_empty());
    assert_eq!(a.pending_count().expect("pending"), 0);
    let q = a.quarantine().expect("quarantine");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].field.as_deref(), Some("severity"));
    assert_eq!(a.sync_cursor().expect("cursor").as_deref(), Some("v1:7"));
    assert!(a.last_sync_at().expect("last").is_some());
    // the other device pulls the raw change bytes
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ev2 = events.clone();
    let sub = b.subscribe(move |e| ev2.lock().expect("lock").push(e.clone()));
    let pulled = out[0]
        .changes
        .iter()
        .map(|c| (id.clone(), c.bytes.clone()))
        .collect();
    let changed = b
        .sync_side()
        .apply_sync(SyncApply {
            pulled,
            cursor: Some("v1:9".into()),
            ..Default::default()
        })
        .expect("pull");
    assert_eq!(changed, vec![id.clone()]);
    assert_eq!(
        b.get(&id).expect("get").record,
        a.get(&id).expect("get").record
    );
    assert_eq!(
        b.pending_count().expect("pending"),
        0,
        "pulled changes are not pushed back"
    );
    assert_eq!(events.lock().expect("lock").len(), 1);
    assert_eq!(events.lock().expect("lock")[0].source, ChangeSource::Remote);
    drop(sub);
    b.update_report(
        &id,
        ReportPatch {
            severity: Some(2),
            ..Default::default()
        },
    )
    .expect("edit");
    assert_eq!(
        events.lock().expect("lock").len(),
        1,
        "dropping the subscription unsubscribes"
    );
}

#[test]
fn discarding_a_refused_change_restores_the_record_and_keeps_an_audit_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = store_in(dir.path(), "a.db", worker());
    let id = a.create_report(report("G1", "原标题")).expect("create");
    let first = a.sync_side().outbox(1 << 20).expect("outbox")[0].changes[0]
        .hash
        .clone();
    a.sync_side()
        .apply_sync(SyncApply {
            acked: vec![(id.clone(), first)],
            ..Default::default()
        })
        .expect("ack");
    a.update_report(
        &id,
        ReportPatch {
            severity: Some(4),
            ..Default::default()
        },
    )
    .expect("edit");
    a.update_report(
        &id,
        ReportPatch {
            title: Some("后来的标题".into()),
            ..Default::default()
        },
    )
    .expect("edit on top");
    let out = a.sync_side().outbox(1 << 20).expect("outbox");
    let refused = out[0].changes[0].hash.clone();
    a.sync_side()
        .apply_sync(SyncApply {
            rejected: vec![Rejection {
                doc_id: id.clone(),
                hash: refused,
                field: Some("severity".into()),
                reason: "not allowed".into(),
            }],
            ..Default::default()
        })
        .expect("reject");
    assert_eq!(a.quarantine().expect("q").len(), 1);
    assert_eq!(
        a.discard_quarantined(&id).expect("discard"),
        2,
        "the refused change and the edit built on it"
    );
    let AnyRecord::Report(r) = a.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!((r.severity, r.title.as_str()), (2, "原标题"));
    assert!(a.quarantine().expect("q").is_empty());
    assert_eq!(a.pending_count().expect("pending"), 0);
    let kept: i64 = rusqlite::Connection::open(dir.path().join("a.db"))
        .expect("open")
        .query_row(
            &format!(
                "SELECT count(*) FROM changes WHERE state = {}",
                ChangeState::Discarded.sql()
            ),
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(kept, 2, "discarded changes are kept for audit");
    drop(a);
    let a = store_in(dir.path(), "a.db", worker());
    let AnyRecord::Report(r) = a.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.severity, 2, "still discarded after reopening");
    a.update_report(
        &id,
        ReportPatch {
            severity: Some(3),
            ..Default::default()
        },
    )
    .expect("edit again");
    assert_eq!(a.pending_count().expect("pending"), 1);
}
