//! `OsgAdmin`: remote administration (`osg admin --endpoint URL ...`, like `mc admin`). The
//! `osg` command sends an admin command as JSON (`Command`), with `Json` for JSON output and
//! `Input` for what the command would read from a file; the gateway runs it on its metadata
//! store and answers what it printed (`Output`). Only principals of the system account may
//! call it, and policy decides which commands: `osg:ACTION` (`osg:BucketQuota`,
//! `osg:PropertySet`, ...) on `arn:aws:iam::ACCOUNT:osg-admin`; the root may run them all.

use futures::future::BoxFuture;
use osg_meta::SYSTEM_ACCOUNT;

use super::xml::Xml;
use super::{Call, IamError};

/// Runs admin commands for remote callers (the `osg` command's own, so that both run the same
/// code).
pub trait AdminRunner: Send + Sync {
    /// The action a command needs (`osg:BucketQuota`), or why it is not a command.
    fn action(&self, command: &serde_json::Value) -> Result<String, String>;
    /// Runs a command; what it printed, or its error.
    fn run(
        &self,
        command: serde_json::Value,
        json: bool,
        input: Option<String>,
    ) -> BoxFuture<'static, Result<String, String>>;
}

pub async fn osg_admin(call: &Call<'_>, runner: Option<&dyn AdminRunner>) -> Result<Xml, IamError> {
    let Some(runner) = runner else {
        return Err(IamError::new(
            "InvalidAction",
            400,
            "This gateway does not run admin commands.",
        ));
    };
    if call.caller.account.name != SYSTEM_ACCOUNT {
        return Err(IamError::access_denied(
            "Only the system account may run admin commands.",
        ));
    }
    let command: serde_json::Value = serde_json::from_str(call.required("Command")?)
        .map_err(|_| IamError::validation("The parameter Command is not JSON."))?;
    let action = runner.action(&command).map_err(IamError::validation)?;
    let resource = call.account_arn("osg-admin");
    call.authorize_as(&action, &resource).await?;
    let json = call.param("Json") == Some("true");
    let input = call.params.get("Input").cloned();
    let output = runner.run(command, json, input).await.map_err(IamError::validation)?;
    Ok(Xml::result("OsgAdmin").field("Output", &output))
}
