//! The IAM Query API (and STS GetCallerIdentity) on the gateway's own listener: `POST /` with
//! a form body signed for service `iam` or `sts`, which S3 never sends. So
//! `aws iam --endpoint-url http://HOST:PORT ...` works unchanged.
//!
//! Who may call what is itself IAM policy: `iam:ACTION` on the target's ARN, decided by the
//! same engine as S3 requests (an account's root may do anything within its account).

mod accounts;
mod admin;
mod error;
mod groups;
mod keys;
mod policies;
mod users;
mod xml;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use osg_meta::{Caller, Meta};
use osg_policy::Context;
use s3s::Body;
use secrecy::ExposeSecret;

pub use self::admin::AdminRunner;
pub use self::error::IamError;
use self::policies::On;
#[cfg(feature = "fuzzing")]
pub(crate) use self::users::{check_name, check_path};
use self::xml::Xml;
pub use self::xml::escape as escape_xml;
use crate::authz::{self, Connection};
use crate::directory::Directory;

/// Largest form body accepted (policy documents included).
const MAX_BODY: usize = 64 << 10;

pub struct Iam {
    meta: Arc<Meta>,
    dir: Arc<Directory>,
    /// Runs `OsgAdmin` commands; none on a gateway built without the `osg` command.
    admin: Option<Arc<dyn AdminRunner>>,
}

impl Iam {
    pub fn new(meta: Arc<Meta>, dir: Arc<Directory>) -> Self {
        Self { meta, dir, admin: None }
    }

    /// This endpoint, running admin commands with `runner`.
    #[must_use]
    pub fn with_admin(&self, runner: Arc<dyn AdminRunner>) -> Self {
        Self {
            meta: Arc::clone(&self.meta),
            dir: Arc::clone(&self.dir),
            admin: Some(runner),
        }
    }
}

/// One IAM call, decoded: the caller, the form parameters and the request's condition keys.
pub struct Call<'a> {
    meta: &'a Meta,
    dir: &'a Directory,
    caller: Caller,
    params: HashMap<String, String>,
    context: Context,
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, IamError> {
        self.param(name)
            .ok_or_else(|| IamError::validation(format!("The parameter {name} is required.")))
    }

    /// `Marker` and `MaxItems` (default 100, at most 1000).
    fn page(&self) -> Result<(&str, usize), IamError> {
        let max = match self.param("MaxItems") {
            None => 100,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| IamError::validation("MaxItems must be between 1 and 1000."))?,
        };
        Ok((self.param("Marker").unwrap_or(""), max))
    }

    /// Refuses unless policy allows the caller `iam:ACTION` on `resource`.
    async fn authorize(&self, action: &str, resource: &str) -> Result<(), IamError> {
        self.authorize_as(&format!("iam:{action}"), resource).await
    }

    /// Refuses unless policy allows the caller `action` (with its service) on `resource`.
    async fn authorize_as(&self, iam_action: &str, resource: &str) -> Result<(), IamError> {
        authz::authorize(
            self.dir,
            Some(&self.caller),
            iam_action,
            &authz::Target::new(None, None, resource),
            &self.context,
        )
        .await
        .map_err(|_| {
            let who = self
                .caller
                .user
                .as_ref()
                .map_or_else(|| self.caller.account.id.clone(), osg_meta::User::arn);
            IamError::access_denied(format!(
                "User: {who} is not authorized to perform: {iam_action} on resource: {resource}"
            ))
        })
    }

    fn account_arn(&self, rest: &str) -> String {
        format!("arn:aws:iam::{}:{rest}", self.caller.account.id)
    }
}

/// Whether a request is for this endpoint: a form POST to `/`, which S3 never sends.
pub fn is_iam_request(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    method == Method::POST
        && uri.path() == "/"
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

impl Iam {
    /// Answers one IAM or STS request.
    pub async fn handle(&self, req: Request<Body>, request_id: &str) -> Response<Body> {
        let (status, body) = match self.dispatch(req).await {
            Ok(xml) => (http::StatusCode::OK, xml.finish(request_id)),
            Err(e) => (e.status(), e.to_xml(request_id)),
        };
        let mut resp = Response::new(Body::from(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/xml"));
        resp
    }

    /// Checks the signature, finds the caller, and runs the action.
    async fn dispatch(&self, req: Request<Body>) -> Result<Xml, IamError> {
        let (parts, mut body) = req.into_parts();
        let body = body
            .store_all_limited(MAX_BODY)
            .await
            .map_err(|_| IamError::validation("The request body is too large."))?;
        let auth = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::sigv4::parse_authorization)
            .filter(|a| a.service == "iam" || a.service == "sts")
            .ok_or_else(|| {
                IamError::new(
                    "MissingAuthenticationToken",
                    403,
                    "Requests must be signed with SigV4 for iam or sts.",
                )
            })?;
        let invalid_key = || {
            IamError::new(
                "InvalidClientTokenId",
                403,
                "The security token included in the request is invalid.",
            )
        };
        let secret = self.meta.secret_key(&auth.access_key).await?.ok_or_else(invalid_key)?;
        if !crate::sigv4::verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            &auth,
            secret.expose_secret(),
        ) {
            return Err(IamError::new(
                "SignatureDoesNotMatch",
                403,
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        let caller = self.dir.caller(&auth.access_key).await?.ok_or_else(invalid_key)?;
        let body = std::str::from_utf8(&body).map_err(|_| IamError::validation("The request body is not UTF-8."))?;
        let params: HashMap<String, String> = authz::form_pairs(body).collect();
        let conn = parts.extensions.get::<Connection>().copied();
        let context = authz::request_context(&parts.headers, &parts.uri, conn, Some(&caller));
        let call = Call {
            meta: &self.meta,
            dir: &self.dir,
            caller,
            params,
            context,
        };
        let action = call.required("Action")?.to_owned();
        let result = self.run(&call, &action).await;
        // Identity changes made here apply to this gateway's next request; others see them
        // when their cache entries expire.
        let reads_only = ["Get", "List"].iter().any(|p| action.starts_with(p));
        if result.is_ok() && !reads_only {
            self.dir.forget_identities();
        }
        result
    }

    async fn run(&self, call: &Call<'_>, action: &str) -> Result<Xml, IamError> {
        match action {
            "GetCallerIdentity" => accounts::get_caller_identity(call),
            "CreateAccount" => accounts::create_account(call).await,
            "ListAccounts" => accounts::list_accounts(call).await,
            "DeleteAccount" => accounts::delete_account(call).await,
            "CreateUser" => users::create_user(call).await,
            "GetUser" => users::get_user(call).await,
            "ListUsers" => users::list_users(call).await,
            "UpdateUser" => users::update_user(call).await,
            "DeleteUser" => users::delete_user(call).await,
            "CreateGroup" => groups::create_group(call).await,
            "GetGroup" => groups::get_group(call).await,
            "ListGroups" => groups::list_groups(call).await,
            "ListGroupsForUser" => groups::list_groups_for_user(call).await,
            "AddUserToGroup" => groups::add_user_to_group(call).await,
            "RemoveUserFromGroup" => groups::remove_user_from_group(call).await,
            "DeleteGroup" => groups::delete_group(call).await,
            "PutUserPolicy" => policies::put_inline(call, On::User, "PutUserPolicy").await,
            "GetUserPolicy" => policies::get_inline(call, On::User, "GetUserPolicy").await,
            "ListUserPolicies" => policies::list_inline(call, On::User, "ListUserPolicies").await,
            "DeleteUserPolicy" => policies::delete_inline(call, On::User, "DeleteUserPolicy").await,
            "PutGroupPolicy" => policies::put_inline(call, On::Group, "PutGroupPolicy").await,
            "GetGroupPolicy" => policies::get_inline(call, On::Group, "GetGroupPolicy").await,
            "ListGroupPolicies" => policies::list_inline(call, On::Group, "ListGroupPolicies").await,
            "DeleteGroupPolicy" => policies::delete_inline(call, On::Group, "DeleteGroupPolicy").await,
            "CreatePolicy" => policies::create_policy(call).await,
            "GetPolicy" => policies::get_policy(call).await,
            "ListPolicies" => policies::list_policies(call).await,
            "DeletePolicy" => policies::delete_policy(call).await,
            "CreatePolicyVersion" => policies::create_policy_version(call).await,
            "GetPolicyVersion" => policies::get_policy_version(call).await,
            "ListPolicyVersions" => policies::list_policy_versions(call).await,
            "SetDefaultPolicyVersion" => policies::set_default_policy_version(call).await,
            "DeletePolicyVersion" => policies::delete_policy_version(call).await,
            "AttachUserPolicy" => policies::attach(call, On::User, "AttachUserPolicy").await,
            "DetachUserPolicy" => policies::detach(call, On::User, "DetachUserPolicy").await,
            "ListAttachedUserPolicies" => policies::list_attached(call, On::User, "ListAttachedUserPolicies").await,
            "AttachGroupPolicy" => policies::attach(call, On::Group, "AttachGroupPolicy").await,
            "DetachGroupPolicy" => policies::detach(call, On::Group, "DetachGroupPolicy").await,
            "ListAttachedGroupPolicies" => policies::list_attached(call, On::Group, "ListAttachedGroupPolicies").await,
            "CreateAccessKey" => keys::create_access_key(call).await,
            "ListAccessKeys" => keys::list_access_keys(call).await,
            "UpdateAccessKey" => keys::update_access_key(call).await,
            "DeleteAccessKey" => keys::delete_access_key(call).await,
            "GetAccessKeyLastUsed" => keys::get_access_key_last_used(call).await,
            "OsgAdmin" => admin::osg_admin(call, self.admin.as_deref()).await,
            other => Err(IamError::new(
                "InvalidAction",
                400,
                format!("The action {other} is not valid for this web service."),
            )),
        }
    }
}
