//! Refusals name the field, never the value: a wrong-typed value may be a resident's name or ID
//! number typed into the wrong field, and refusals are shown on devices and written to logs. The
//! landed server passed serde's message through, which quotes strings (`invalid type: string
//! "…"`). (Every other test checks its refusal reasons against the same canaries.)

use gridwork_protocol::wire::RejectCode;
use gridwork_tests::attack::*;

const CLASS: &str = "leaks";

#[test]
fn a_wrong_typed_value_is_refused_without_quoting_it() {
    let mut g = Guard::start(CLASS, &[]);
    let att = Attacker::sign_in(&g.url(), "worker");
    let mut rec = draft_report("furong-01", &att.user_id, "类型错误")
        .to_json()
        .unwrap();
    rec["severity"] = serde_json::json!("王秘密");
    let (_, change) = att.create_json(&rec);
    let id = new_id();
    let resp = g.must("push a wrong-typed severity", att.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::InvalidRecord, Some(&["severity"]));
    assert_reasons_quote_nothing(&resp, &["王秘密"]);
    g.check("wrong_typed_severity");
}

#[test]
fn a_malformed_sign_in_is_refused_without_quoting_it() {
    let mut g = Guard::start(CLASS, &[]);
    let client = http_client();
    for body in [
        r#"{"username":"worker","password":"demo-worker","device_name":"d","actors":"王秘密"}"#,
        r#"{"username":"王秘密","password":7,"device_name":"d","actors":[]}"#,
    ] {
        let r = client
            .post(format!("{}/v1/sign-in", g.url()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .expect("sign-in answered");
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        assert_eq!(status, 400, "{text}");
        assert_body_quotes_nothing(&text, &["王秘密"]);
    }
    g.check("malformed_sign_in");
}
