//! Policy documents: parsing never panics, and a parsed policy decides any request (built from
//! the same input) without panicking; adding a Deny statement never turns a decision into an
//! Allow.
#![no_main]

use osg_policy::{Caller, Context, Decision, Kind, Policy, Principal, Request};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The document, then a resource and condition values to try it on.
    let (doc, rest) = text.split_once('\u{0}').unwrap_or((text, "arn:aws:s3:::b/k"));
    let mut parts = rest.split('\u{1}');
    let resource = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let mut cx = Context::new();
    for key in [
        "aws:username",
        "aws:UserAgent",
        "aws:Referer",
        "s3:prefix",
        "aws:SourceIp",
        "aws:CurrentTime",
    ] {
        cx.set(key, value);
    }
    cx.set_all("s3:RequestObjectTagKeys", value.split(',').map(str::to_owned).collect());
    let who = [
        Caller::Anonymous,
        Caller::Principal(Principal {
            account: "111122223333".into(),
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            canonical_id: "c".into(),
        }),
    ];
    for kind in [Kind::Identity, Kind::Resource] {
        let Ok(policy) = Policy::parse(doc, kind) else { continue };
        for caller in &who {
            for action in ["s3:GetObject", "s3:PutObject", "iam:CreateUser"] {
                let req = Request {
                    caller,
                    action,
                    resource,
                    context: &cx,
                };
                let decision = policy.evaluate(&req);
                let _ = policy.is_public();
                // A policy denying everything on top never allows.
                if decision != Decision::Allow {
                    assert_ne!(decision.and(Policy::deny_all().evaluate(&req)), Decision::Allow);
                }
            }
        }
    }
});
