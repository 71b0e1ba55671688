//! Property: 2–4 replicas make random offline edits (text, scalars, lists, transitions) and
//! exchange changes in random order with duplicates; afterwards every replica holds identical
//! documents and projections, and no edit is lost.
use gridwork_model::*;
use gridwork_store::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// replica inserts a unique marker into the description at a marker boundary
    Text {
        replica: usize,
        record: usize,
        at: usize,
    },
    Severity {
        replica: usize,
        record: usize,
        value: u8,
    },
    Comment {
        replica: usize,
        record: usize,
    },
    Transition {
        replica: usize,
        record: usize,
        to: usize,
    },
    /// copy everything from one replica to another (possibly again)
    Exchange {
        from: usize,
        to: usize,
    },
}

const STATUSES: &[&str] = &["submitted", "returned", "approved", "resolved", "closed"];

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..n, 0..3usize, 0..8usize).prop_map(|(replica, record, at)| Op::Text { replica, record, at }),
        2 => (0..n, 0..3usize, 1..=4u8).prop_map(|(replica, record, value)| Op::Severity { replica, record, value }),
        2 => (0..n, 0..3usize).prop_map(|(replica, record)| Op::Comment { replica, record }),
        2 => (0..n, 0..3usize, 0..STATUSES.len()).prop_map(|(replica, record, to)| Op::Transition { replica, record, to }),
        3 => (0..n, 0..n).prop_map(|(from, to)| Op::Exchange { from, to }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2..=4usize).prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 10..60)))
}

fn identities() -> Vec<Identity> {
    vec![
        Identity::new("w1", Role::Worker),
        Identity::new("s1", Role::Supervisor),
        Identity::new("w2", Role::Worker),
        Identity::new("l1", Role::Leader),
    ]
}

fn exchange(from: &Store, to: &Store) {
    let (bytes, _) = from.export_changes(0).expect("export");
    to.import_changes(&bytes).expect("import");
}

fn run(n: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tmp");
    let ids = identities();
    let stores: Vec<Store> = (0..n)
        .map(|i| Store::open(dir.path().join(format!("r{i}.db")), ids[i].clone()).expect("open"))
        .collect();
    // three shared reports, created on replica 0 and known to everyone
    let mut records = Vec::new();
    for i in 0..3 {
        records.push(
            stores[0]
                .create_report(NewReport {
                    grid: "G1".into(),
                    category: ReportCategory::Sanitation,
                    severity: 1,
                    title: format!("报告{i}"),
                    description: String::new(),
                    location: None,
                    submit: false,
                })
                .expect("create"),
        );
    }
    for s in &stores[1..] {
        exchange(&stores[0], s);
    }
    let mut markers: Vec<(usize, String)> = Vec::new();
    let mut comments: Vec<(usize, String)> = Vec::new();
    let mut severities: Vec<Vec<u8>> = vec![vec![1]; 3];
    for (k, o) in ops.into_iter().enumerate() {
        match o {
            Op::Text {
                replica,
                record,
                at,
            } => {
                let s = &stores[replica];
                let AnyRecord::Report(r) = s.get(&records[record]).expect("get").record else {
                    unreachable!()
                };
                // insert only at boundaries between markers so markers stay whole
                let bounds: Vec<usize> = std::iter::once(0)
                    .chain(
                        r.description
                            .char_indices()
                            .filter(|(_, c)| *c == '】')
                            .map(|(i, c)| i + c.len_utf8()),
                    )
                    .collect();
                let pos = bounds[at % bounds.len()];
                let marker = format!("【{replica}改{k}】");
                let mut d = r.description.clone();
                d.insert_str(pos, &marker);
                // Only the author and managers may edit a report (w2 may not): a refused edit is
                // part of the game and changes nothing.
                match s.update_report(
                    &records[record],
                    ReportPatch {
                        description: Some(d),
                        ..Default::default()
                    },
                ) {
                    Ok(()) => markers.push((record, marker)),
                    Err(gridwork_model::Error::NotPermitted { .. }) => {}
                    Err(e) => panic!("text: {e:?}"),
                }
            }
            Op::Severity {
                replica,
                record,
                value,
            } => {
                match stores[replica].update_report(
                    &records[record],
                    ReportPatch {
                        severity: Some(value),
                        ..Default::default()
                    },
                ) {
                    Ok(()) => severities[record].push(value),
                    Err(gridwork_model::Error::NotPermitted { .. }) => {}
                    Err(e) => panic!("severity: {e:?}"),
                }
            }
            Op::Comment { replica, record } => {
                let text = format!("评论{replica}-{k}");
                stores[replica]
                    .add_comment(&records[record], &text)
                    .expect("comment");
                comments.push((record, text));
            }
            Op::Transition {
                replica,
                record,
                to,
            } => {
                let comment = (STATUSES[to] == "returned").then(|| "退回".to_owned());
                // refused transitions (wrong role, illegal step) are part of the game; they change nothing
                let before = stores[replica].get(&records[record]).expect("get");
                if stores[replica]
                    .transition(&records[record], STATUSES[to], comment.clone())
                    .is_err()
                {
                    prop_assert_eq!(stores[replica].get(&records[record]).expect("get"), before);
                } else if let Some(c) = comment {
                    comments.push((record, c));
                }
            }
            Op::Exchange { from, to } => {
                if from != to {
                    exchange(&stores[from], &stores[to]);
                }
            }
        }
    }
    // everyone to everyone, in a fixed then reversed order (and duplicates)
    for _ in 0..2 {
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    exchange(&stores[a], &stores[b]);
                }
            }
        }
    }
    let list = |s: &Store| {
        s.list(&ListQuery {
            limit: Some(500),
            ..Default::default()
        })
        .expect("list")
        .items
    };
    let first_list = list(&stores[0]);
    for s in &stores[1..] {
        let l = list(s);
        // updated_at depends on when a change arrived locally only through max(); compare the rest
        let strip = |v: &[RecordSummary]| {
            v.iter()
                .map(|x| RecordSummary {
                    updated_at: gridwork_model::Millis(0),
                    ..x.clone()
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(strip(&l), strip(&first_list));
    }
    for (ri, id) in records.iter().enumerate() {
        let base = stores[0].get(id).expect("get").record;
        for s in &stores[1..] {
            prop_assert_eq!(&s.get(id).expect("get").record, &base);
            prop_assert_eq!(
                s.conflicts(id).expect("conflicts"),
                stores[0].conflicts(id).expect("conflicts")
            );
        }
        let AnyRecord::Report(r) = base else {
            unreachable!()
        };
        for (rec, m) in &markers {
            if *rec == ri {
                prop_assert!(
                    r.description.contains(m.as_str()),
                    "marker {} lost from {:?}",
                    m,
                    r.description
                );
            }
        }
        for (rec, c) in &comments {
            if *rec == ri {
                prop_assert!(
                    r.comments.iter().any(|x| &x.text == c),
                    "comment {} lost",
                    c
                );
            }
        }
        prop_assert!(severities[ri].contains(&r.severity));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn replicas_converge_and_lose_nothing((n, ops) in scenario()) {
        run(n, ops)?;
    }
}
