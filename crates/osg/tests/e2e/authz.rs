//! The authorization matrix through the real gateway: principals x bucket-policy setups x
//! operations, each case asserted as allowed or AccessDenied.

use std::collections::BTreeMap;

use crate::common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration,
};

/// The operations tried: GetObject, HeadObject, PutObject, DeleteObject, ListObjectsV2,
/// ListMultipartUploads.
const OPS: [char; 6] = ['G', 'H', 'P', 'D', 'L', 'U'];

/// Who asks. `A` owns the buckets; `B` is another account.
const PRINCIPALS: [&str; 8] = [
    "A-root",
    "A-alice",
    "A-bob",
    "A-carol",
    "B-root",
    "B-dave",
    "B-erin",
    "anonymous",
];

/// Identity policies: alice and erin have none; bob may do anything to the test buckets;
/// carol too, except GetObject, which she is explicitly denied; dave may do anything anywhere.
const BOB: &str = r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::authz-*"]}}"#;
const CAROL: &str = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::authz-*"},
    {"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#;
const DAVE: &str = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

/// How a setup's bucket is configured besides its policy: canned ACLs for the bucket and the
/// object (which turn on ACLs with BucketOwnerPreferred), and Public Access Block flags.
#[derive(Default, Clone, Copy)]
struct Extra {
    acl: Option<&'static str>,
    ignore_public_acls: bool,
    restrict_public_buckets: bool,
}

/// Bucket-policy setups (`BUCKET` stands for the bucket name) and, for each principal, the
/// operations AWS's rules allow.
fn setups(
    a_account: &str,
    b_account: &str,
    alice_arn: &str,
) -> Vec<(&'static str, String, Extra, BTreeMap<&'static str, &'static str>)> {
    let table = |rows: [&'static str; 8]| PRINCIPALS.iter().copied().zip(rows).collect::<BTreeMap<_, _>>();
    let none = Extra::default();
    let public_read_acl = Extra {
        acl: Some("public-read"),
        ..none
    };
    let public_policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"},
                {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::BUCKET"}]}"#;
    let rows = vec![
        ("no bucket policy", String::new(), table(["GHPDLU", "", "GHPDLU", "PDLU", "", "", "", ""])),
        ("public read", public_policy.to_owned(), table(["GHPDLU", "GHL", "GHPDLU", "PDLU", "GHL", "GHL", "", "GHL"])),
        (
            "cross-account grant",
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{b_account}"}},"Action":"s3:*",
                    "Resource":["arn:aws:s3:::BUCKET","arn:aws:s3:::BUCKET/*"]}}}}"#
            ),
            table(["GHPDLU", "", "GHPDLU", "PDLU", "GHPDLU", "GHPDLU", "", ""]),
        ),
        (
            "deny deletes to everyone",
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::BUCKET/*"}}"#
                .to_owned(),
            table(["GHPLU", "", "GHPLU", "PLU", "", "", "", ""]),
        ),
        (
            // Naming the account delegates to it: its users still need their own policies.
            "grant to the owner's own account",
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{a_account}:root"}},"Action":"s3:*",
                    "Resource":["arn:aws:s3:::BUCKET","arn:aws:s3:::BUCKET/*"]}}}}"#
            ),
            table(["GHPDLU", "", "GHPDLU", "PDLU", "", "", "", ""]),
        ),
        (
            "grant to one user of the account",
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{alice_arn}"}},"Action":"s3:*",
                    "Resource":["arn:aws:s3:::BUCKET","arn:aws:s3:::BUCKET/*"]}}}}"#
            ),
            table(["GHPDLU", "GHPDLU", "GHPDLU", "PDLU", "", "", "", ""]),
        ),
        (
            "reads from loopback only, writes denied elsewhere",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*",
                  "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
                {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::BUCKET/*",
                  "Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}"#
                .to_owned(),
            table(["GHPDLU", "GH", "GHPDLU", "PDLU", "GH", "GH", "", "GH"]),
        ),
    ];
    let mut out: Vec<_> = rows
        .into_iter()
        .map(|(name, policy, allowed)| (name, policy, none, allowed))
        .collect();
    out.extend([
        // Bucket READ lists (and lists uploads); object READ reads; nobody gets WRITE.
        (
            "public-read ACLs",
            String::new(),
            public_read_acl,
            table(["GHPDLU", "GHLU", "GHPDLU", "PDLU", "GHLU", "GHLU", "", "GHLU"]),
        ),
        (
            "public-read ACLs ignored by the Public Access Block",
            String::new(),
            Extra {
                ignore_public_acls: true,
                ..public_read_acl
            },
            table(["GHPDLU", "", "GHPDLU", "PDLU", "", "", "", ""]),
        ),
        (
            "public policy restricted to the account by the Public Access Block",
            public_policy.to_owned(),
            Extra {
                restrict_public_buckets: true,
                ..none
            },
            table(["GHPDLU", "GHL", "GHPDLU", "PDLU", "", "", "", ""]),
        ),
    ]);
    out
}

enum Actor {
    Signed(Client),
    Anonymous,
}

impl Actor {
    /// Tries one operation; `true` if it succeeded, `false` if it was AccessDenied (any other
    /// outcome fails the test).
    async fn attempt(&self, op: char, bucket: &str) -> bool {
        match self {
            Self::Signed(c) => {
                let outcome = match op {
                    'G' => c
                        .get_object()
                        .bucket(bucket)
                        .key("k")
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                    'H' => c
                        .head_object()
                        .bucket(bucket)
                        .key("k")
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                    'P' => c
                        .put_object()
                        .bucket(bucket)
                        .key("k")
                        .body(b"written".to_vec().into())
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                    'D' => c
                        .delete_object()
                        .bucket(bucket)
                        .key("k")
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                    'L' => c
                        .list_objects_v2()
                        .bucket(bucket)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                    _ => c
                        .list_multipart_uploads()
                        .bucket(bucket)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| error_of::<(), _, _>(Err(e))),
                };
                match outcome {
                    Ok(()) => true,
                    Err((code, status)) if status == 403 && (code == "AccessDenied" || op == 'H') => false,
                    Err(other) => panic!("{op} on {bucket}: unexpected {other:?}"),
                }
            }
            Self::Anonymous => {
                let url = format!("{}/{bucket}", server().endpoint);
                let http = reqwest::Client::new();
                let resp = match op {
                    'G' => http.get(format!("{url}/k")).send().await,
                    'H' => http.head(format!("{url}/k")).send().await,
                    'P' => http.put(format!("{url}/k")).body("written").send().await,
                    'D' => http.delete(format!("{url}/k")).send().await,
                    'L' => http.get(format!("{url}?list-type=2")).send().await,
                    _ => http.get(format!("{url}?uploads")).send().await,
                }
                .unwrap();
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap();
                match status {
                    200 | 204 => true,
                    403 if op == 'H' || body.contains("<Code>AccessDenied</Code>") => false,
                    _ => panic!("anonymous {op} on {bucket}: unexpected {status} {body}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let meta = server().meta().await;
    let a = meta.create_account("authz-a").await.unwrap();
    let b = meta.create_account("authz-b").await.unwrap();
    let signed = |keys: (String, String)| Actor::Signed(client_with(&keys.0, &keys.1, None));
    let mut actors = BTreeMap::new();
    actors.insert("A-root", signed(meta.create_access_key(&a.id, None).await.unwrap()));
    actors.insert("B-root", signed(meta.create_access_key(&b.id, None).await.unwrap()));
    let mut alice_arn = String::new();
    for (principal, account, name, policy) in [
        ("A-alice", &a, "alice", None),
        ("A-bob", &a, "bob", Some(BOB)),
        ("A-carol", &a, "carol", Some(CAROL)),
        ("B-dave", &b, "dave", Some(DAVE)),
        ("B-erin", &b, "erin", None),
    ] {
        let user = meta.create_user(&account.id, name, "/").await.unwrap();
        if let Some(policy) = policy {
            meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", policy)
                .await
                .unwrap();
        }
        if name == "alice" {
            alice_arn = user.arn();
        }
        actors.insert(
            principal,
            signed(meta.create_access_key(&account.id, Some(name)).await.unwrap()),
        );
    }
    actors.insert("anonymous", Actor::Anonymous);
    let Actor::Signed(owner) = &actors["A-root"] else {
        unreachable!()
    };

    let mut cases = 0;
    let mut wrong = Vec::new();
    for (n, (setup, policy, extra, allowed)) in setups(&a.id, &b.id, &alice_arn).into_iter().enumerate() {
        let bucket = format!("authz-{n}");
        owner.create_bucket().bucket(&bucket).send().await.unwrap();
        if !policy.is_empty() {
            owner
                .put_bucket_policy()
                .bucket(&bucket)
                .policy(policy.replace("BUCKET", &bucket))
                .send()
                .await
                .unwrap();
        }
        if let Some(acl) = extra.acl {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                .build()
                .unwrap();
            let controls = OwnershipControls::builder().rules(rule).build().unwrap();
            owner
                .put_bucket_ownership_controls()
                .bucket(&bucket)
                .ownership_controls(controls)
                .send()
                .await
                .unwrap();
            owner
                .put_bucket_acl()
                .bucket(&bucket)
                .acl(BucketCannedAcl::from(acl))
                .send()
                .await
                .unwrap();
        }
        if extra.ignore_public_acls || extra.restrict_public_buckets {
            let pab = PublicAccessBlockConfiguration::builder()
                .ignore_public_acls(extra.ignore_public_acls)
                .restrict_public_buckets(extra.restrict_public_buckets)
                .build();
            owner
                .put_public_access_block()
                .bucket(&bucket)
                .public_access_block_configuration(pab)
                .send()
                .await
                .unwrap();
        }
        for principal in PRINCIPALS {
            for op in OPS {
                // Every case starts from the same object.
                let mut put = owner
                    .put_object()
                    .bucket(&bucket)
                    .key("k")
                    .body(b"original".to_vec().into());
                if let Some(acl) = extra.acl {
                    put = put.acl(ObjectCannedAcl::from(acl));
                }
                put.send().await.unwrap();
                let got = actors[principal].attempt(op, &bucket).await;
                let want = allowed[principal].contains(op);
                cases += 1;
                if got != want {
                    wrong.push(format!("{setup}: {principal} {op}: got {got}, want {want}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cases} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(cases, 480);
}

#[tokio::test]
async fn bucket_policy_api() {
    let c = client();
    let b = new_bucket(&c, "authz-api").await;
    assert_eq!(
        error_of(c.get_bucket_policy().bucket(&b).send().await),
        ("NoSuchBucketPolicy".into(), 404)
    );
    let bad = c
        .put_bucket_policy()
        .bucket(&b)
        .policy("{\"Statement\":[]}")
        .send()
        .await;
    assert_eq!(error_of(bad), ("MalformedPolicy".into(), 400));
    let elsewhere =
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}"#;
    assert_eq!(
        error_of(c.put_bucket_policy().bucket(&b).policy(elsewhere).send().await),
        ("MalformedPolicy".into(), 400)
    );
    let public = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(&public).send().await.unwrap();
    assert_eq!(
        c.get_bucket_policy().bucket(&b).send().await.unwrap().policy(),
        Some(public.as_str())
    );
    let status = c.get_bucket_policy_status().bucket(&b).send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(true));
    // The owner can always remove a policy, even one that denies it everything.
    let lockout = format!(
        r#"{{"Statement":{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]}}}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(&lockout).send().await.unwrap();
    assert_eq!(
        error_of(c.list_objects_v2().bucket(&b).send().await),
        ("AccessDenied".into(), 403)
    );
    c.delete_bucket_policy().bucket(&b).send().await.unwrap();
    c.list_objects_v2().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn acls_ownership_and_public_access_block() {
    let c = client();
    // New buckets enforce bucket ownership: ACLs are off and only owner-only ACLs are taken.
    let b = new_bucket(&c, "authz-own").await;
    let controls = c.get_bucket_ownership_controls().bucket(&b).send().await.unwrap();
    let rule = &controls.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership(), &ObjectOwnership::BucketOwnerEnforced);
    let r = c
        .put_bucket_acl()
        .bucket(&b)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessControlListNotSupported".into(), 400));
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessControlListNotSupported".into(), 400));
    c.put_object()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let acl = c.get_bucket_acl().bucket(&b).send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    assert_eq!(
        acl.grants()[0].grantee().and_then(|g| g.id()),
        acl.owner().and_then(|o| o.id())
    );
    let public_at_birth = c
        .create_bucket()
        .bucket(bucket_name("authz-pub"))
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(
        error_of(public_at_birth),
        ("InvalidBucketAclWithObjectOwnership".into(), 400)
    );

    // ObjectWriter turns ACLs on: a public-read bucket lists for anyone.
    let open = bucket_name("authz-writer");
    c.create_bucket()
        .bucket(&open)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let anon = reqwest::get(format!("{}/{open}?list-type=2", server().endpoint))
        .await
        .unwrap();
    assert_eq!(anon.status(), 200);
    // Object ACLs by grant header; grants by e-mail cannot be resolved here.
    c.put_object()
        .bucket(&open)
        .key("o")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let all_users = "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"";
    c.put_object_acl()
        .bucket(&open)
        .key("o")
        .grant_read(all_users)
        .send()
        .await
        .unwrap();
    let got = c.get_object_acl().bucket(&open).key("o").send().await.unwrap();
    let uris: Vec<_> = got
        .grants()
        .iter()
        .filter_map(|g| g.grantee().and_then(|g| g.uri()))
        .collect();
    assert_eq!(uris, ["http://acs.amazonaws.com/groups/global/AllUsers"]);
    assert_eq!(
        reqwest::get(format!("{}/{open}/o", server().endpoint))
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .put_object_acl()
        .bucket(&open)
        .key("o")
        .grant_read("emailAddress=\"a@example.com\"")
        .send()
        .await;
    assert_eq!(error_of(r), ("UnresolvableGrantByEmailAddress".into(), 400));

    // Public Access Block: absent, then enforced, then gone.
    assert_eq!(
        error_of(c.get_public_access_block().bucket(&open).send().await),
        ("NoSuchPublicAccessBlockConfiguration".into(), 404)
    );
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .block_public_policy(true)
        .build();
    c.put_public_access_block()
        .bucket(&open)
        .public_access_block_configuration(block)
        .send()
        .await
        .unwrap();
    let got = c.get_public_access_block().bucket(&open).send().await.unwrap();
    assert_eq!(
        got.public_access_block_configuration()
            .and_then(|p| p.block_public_policy()),
        Some(true)
    );
    let r = c
        .put_bucket_acl()
        .bucket(&open)
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    let public = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{open}/*"}}}}"#
    );
    assert_eq!(
        error_of(c.put_bucket_policy().bucket(&open).policy(&public).send().await),
        ("AccessDenied".into(), 403)
    );
    c.delete_public_access_block().bucket(&open).send().await.unwrap();
    c.put_bucket_policy()
        .bucket(&open)
        .policy(&public)
        .send()
        .await
        .unwrap();
    // Back to BucketOwnerEnforced is refused while the bucket ACL is public.
    let rule = OwnershipControlsRule::builder()
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .build()
        .unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    let r = c
        .put_bucket_ownership_controls()
        .bucket(&open)
        .ownership_controls(controls)
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidBucketAclWithObjectOwnership".into(), 400));
}

#[tokio::test]
async fn object_tags_and_tag_conditions() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let c = client();
    let b = new_bucket(&c, "authz-tags").await;
    c.put_object()
        .bucket(&b)
        .key("t")
        .tagging("team=blue&level=2")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let got = c.get_object_tagging().bucket(&b).key("t").send().await.unwrap();
    let mut tags: Vec<_> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    tags.sort_unstable();
    assert_eq!(tags, [("level", "2"), ("team", "blue")]);
    assert_eq!(
        c.get_object().bucket(&b).key("t").send().await.unwrap().tag_count(),
        Some(2)
    );
    let secret = Tagging::builder()
        .tag_set(Tag::builder().key("class").value("secret").build().unwrap())
        .build()
        .unwrap();
    c.put_object_tagging()
        .bucket(&b)
        .key("t")
        .tagging(secret)
        .send()
        .await
        .unwrap();
    let too_many: String = (0..11).map(|i| format!("k{i}=v&")).collect();
    let r = c
        .put_object()
        .bucket(&b)
        .key("u")
        .tagging(too_many.trim_end_matches('&'))
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidTag".into(), 400));

    // Deny reading objects tagged secret; deny writes that do not carry project=x.
    let policy = format!(
        r#"{{"Statement":[
            {{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*",
              "Condition":{{"StringEquals":{{"s3:ExistingObjectTag/class":"secret"}}}}}},
            {{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*",
              "Condition":{{"StringNotEquals":{{"s3:RequestObjectTag/project":"x"}}}}}}]}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("t").send().await),
        ("AccessDenied".into(), 403)
    );
    let r = c
        .put_object()
        .bucket(&b)
        .key("plain")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    c.put_object()
        .bucket(&b)
        .key("plain")
        .tagging("project=x")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    c.get_object().bucket(&b).key("plain").send().await.unwrap();
    c.delete_bucket_policy().bucket(&b).send().await.unwrap();
    c.delete_object_tagging().bucket(&b).key("t").send().await.unwrap();
    assert!(
        c.get_object_tagging()
            .bucket(&b)
            .key("t")
            .send()
            .await
            .unwrap()
            .tag_set()
            .is_empty()
    );
}

fn tagging(pairs: &[(&str, &str)]) -> aws_sdk_s3::types::Tagging {
    use aws_sdk_s3::types::{Tag, Tagging};
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap());
    Tagging::builder().set_tag_set(Some(tags.collect())).build().unwrap()
}

/// Bucket tags: S3's limits and errors, and `aws:ResourceTag/KEY` (the bucket's tags) and
/// `aws:RequestTag/KEY` (the tags PutBucketTagging sets) in an identity policy.
#[tokio::test]
async fn bucket_tags_and_resource_tag_conditions() {
    let c = client();
    let b = new_bucket(&c, "bucket-tags").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"abac".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.get_bucket_tagging().bucket(&b).send().await),
        ("NoSuchTagSet".into(), 404)
    );
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let fifty: Vec<(&str, &str)> = fifty.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&fifty))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get_bucket_tagging().bucket(&b).send().await.unwrap().tag_set().len(),
        50
    );
    let refused = [
        [fifty.clone(), vec![("k50", "v")]].concat(),
        vec![("aws:cost", "1")],
        vec![("team", "a"), ("team", "b")],
        vec![("", "v")],
    ];
    for tags in refused {
        let r = c.put_bucket_tagging().bucket(&b).tagging(tagging(&tags)).send().await;
        assert_eq!(error_of(r), ("InvalidTag".into(), 400), "{tags:?}");
    }
    // A refused set changed nothing.
    assert_eq!(
        c.get_bucket_tagging().bucket(&b).send().await.unwrap().tag_set().len(),
        50
    );
    c.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("team", "blue"), ("cost", "7")]))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket(&b).send().await.unwrap();
    let mut tags: Vec<_> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    tags.sort_unstable();
    assert_eq!(tags, [("cost", "7"), ("team", "blue")]);

    // A user who may read buckets tagged team=blue, and tag them only team=blue.
    let meta = server().meta().await;
    let account = meta.bucket(&b).await.unwrap().owner;
    let user = meta.create_user(&account, "abac", "/").await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],
         "Resource":["arn:aws:s3:::*","arn:aws:s3:::*/*"],
         "Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}},
        {"Effect":"Allow","Action":"s3:PutBucketTagging","Resource":"arn:aws:s3:::*",
         "Condition":{"StringEquals":{"aws:RequestTag/team":"blue"},
                      "ForAllValues:StringEquals":{"aws:TagKeys":["team","cost"]}}}]}"#;
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "abac", policy)
        .await
        .unwrap();
    let keys = meta.create_access_key(&account, Some("abac")).await.unwrap();
    let u = client_with(&keys.0, &keys.1, None);
    assert_eq!(get_bytes(&u, &b, "k").await, b"abac");
    u.list_objects_v2().bucket(&b).send().await.unwrap();
    for tags in [vec![("team", "red")], vec![("team", "blue"), ("owner", "x")]] {
        let r = u.put_bucket_tagging().bucket(&b).tagging(tagging(&tags)).send().await;
        assert_eq!(error_of(r), ("AccessDenied".into(), 403), "{tags:?}");
    }
    u.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("team", "blue")]))
        .send()
        .await
        .unwrap();
    // Retagged by the owner: the user's access goes with the tag.
    c.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("team", "red")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(u.get_object().bucket(&b).key("k").send().await),
        ("AccessDenied".into(), 403)
    );
    assert_eq!(
        error_of(u.list_objects_v2().bucket(&b).send().await),
        ("AccessDenied".into(), 403)
    );
    let deleted = c.delete_bucket_tagging().bucket(&b).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(
        error_of(c.get_bucket_tagging().bucket(&b).send().await),
        ("NoSuchTagSet".into(), 404)
    );
    assert_eq!(
        error_of(u.get_object().bucket(&b).key("k").send().await),
        ("AccessDenied".into(), 403)
    );
}

/// `s3.default-object-ownership` sets the Object Ownership of buckets created without one:
/// ObjectWriter for sites whose clients rely on ACLs. A value S3 does not know is refused by
/// `osg property set`, which says what the property takes; `unset` restores the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_object_ownership_is_a_property() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership};
    let dir = tempfile::tempdir().unwrap();
    let (access, secret) = ("AKOWNERSHIP000000000", "ownership-secret");
    let env = [("OSG_ADMIN_ACCESS_KEY", access), ("OSG_ADMIN_SECRET_KEY", secret)];
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &env);
    let c = client_at(&format!("http://127.0.0.1:{port}"), access, secret);
    let property = |args: &[&str]| osg_cli(dir.path(), &[&["property"], args].concat(), "");
    let ownership = |b: &'static str| {
        let c = c.clone();
        async move {
            let got = c.get_bucket_ownership_controls().bucket(b).send().await.unwrap();
            got.ownership_controls().unwrap().rules()[0].object_ownership().clone()
        }
    };
    // Unset: as AWS, ACLs off.
    c.create_bucket().bucket("enforced").send().await.unwrap();
    assert_eq!(ownership("enforced").await, ObjectOwnership::BucketOwnerEnforced);
    let r = c
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessControlListNotSupported".into(), 400));

    let get = property(&["get", "s3.default-object-ownership"]);
    assert_eq!(get.out.trim(), "BucketOwnerEnforced", "the default");
    assert!(property(&["set", "s3.default-object-ownership=ObjectWriter"]).ok);
    c.create_bucket().bucket("writer").send().await.unwrap();
    assert_eq!(ownership("writer").await, ObjectOwnership::ObjectWriter);
    c.put_bucket_acl()
        .bucket("writer")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    // The request's own setting wins over the default.
    c.create_bucket()
        .bucket("asked")
        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
        .send()
        .await
        .unwrap();
    assert_eq!(ownership("asked").await, ObjectOwnership::BucketOwnerPreferred);

    let refused = property(&["set", "s3.default-object-ownership=ObjectWritter"]);
    assert!(!refused.ok);
    let said = &refused.err;
    assert!(
        said.contains("one of BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter"),
        "{said}"
    );
    assert!(property(&["unset", "s3.default-object-ownership"]).ok);
    c.create_bucket().bucket("again-enforced").send().await.unwrap();
    assert_eq!(ownership("again-enforced").await, ObjectOwnership::BucketOwnerEnforced);
}
