//! Remote administration: `osg admin --endpoint URL ...` runs an admin command on a gateway
//! instead of on the metadata store, so an operator needs neither database access nor the
//! master key, only the system account's credentials. The command travels as the IAM action
//! `OsgAdmin` (a form `POST /` signed with SigV4 for `iam`): the command as JSON, and what it
//! would read from a file, read here. The gateway authorizes it (`osg_gateway::AdminRunner`),
//! runs it with the same code as `osg admin` ([`Runner`]) and answers what it printed.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, anyhow, bail, ensure};
use futures::future::BoxFuture;
use osg_meta::Meta;

use crate::admin::{self, AdminCommand};

/// Where `osg admin` sends a command instead of opening the store.
#[derive(clap::Args, Debug)]
pub struct RemoteOptions {
    /// Run the command on the gateway at this URL (`https://HOST:PORT`; plain http only to a
    /// loopback address) instead of on the metadata store, as the system account's principal
    /// whose credentials are in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
    /// AWS_SHARED_CREDENTIALS_FILE; IAM policy decides which commands (`osg:BucketQuota`, ...).
    /// (Before the command: `provider add --endpoint` is the provider's.)
    #[arg(long, env = "OSG_ENDPOINT", conflicts_with_all = ["db", "master_key_file"])]
    pub endpoint: Option<String>,
    /// A PEM file of certificate authorities to trust for --endpoint besides the system's.
    #[arg(long)]
    pub endpoint_ca_file: Option<std::path::PathBuf>,
}

/// The IAM action a command needs: `osg:` and the names of its command path, as its JSON form
/// nests them (`{"Bucket":{"Quota":{...}}}` is `osg:BucketQuota`, `{"Bucket":"List"}`
/// `osg:BucketList`).
fn action(command: &AdminCommand) -> String {
    let mut action = String::from("osg:");
    let mut at = serde_json::to_value(command).unwrap_or_default();
    loop {
        let next = match at {
            serde_json::Value::String(name) => {
                action.push_str(&name);
                break;
            }
            serde_json::Value::Object(map) if map.len() == 1 => map.into_iter().next(),
            _ => None,
        };
        match next {
            Some((name, inner)) if name.starts_with(|c: char| c.is_ascii_uppercase()) => {
                action.push_str(&name);
                at = inner;
            }
            _ => break,
        }
    }
    action
}

/// The gateway's side: admin commands run on its metadata store.
pub struct Runner {
    pub meta: Arc<Meta>,
}

impl osg_gateway::AdminRunner for Runner {
    fn action(&self, command: &serde_json::Value) -> Result<String, String> {
        let command: AdminCommand =
            serde_json::from_value(command.clone()).map_err(|e| format!("not an admin command: {e}"))?;
        Ok(action(&command))
    }

    fn run(
        &self,
        command: serde_json::Value,
        json: bool,
        input: Option<String>,
    ) -> BoxFuture<'static, Result<String, String>> {
        let meta = Arc::clone(&self.meta);
        Box::pin(async move {
            let command: AdminCommand =
                serde_json::from_value(command).map_err(|e| format!("not an admin command: {e}"))?;
            // Its own task: a command under way (a master key rewrap) finishes even if the
            // caller goes away.
            let run =
                tokio::spawn(async move { admin::capture(input, admin::run_command(&meta, json, command)).await });
            match run.await {
                Ok(done) => done.map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("the command failed: {e}")),
            }
        })
    }
}

/// The operator's side: sends `command` to the gateway at `endpoint` and prints what it
/// printed there.
pub async fn call(
    endpoint: &str,
    options: &RemoteOptions,
    json: bool,
    mut command: AdminCommand,
) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(endpoint).with_context(|| format!("--endpoint {endpoint} is not a URL"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    ensure!(
        url.scheme() == "https" || (url.scheme() == "http" && loopback),
        "--endpoint must be https:// (commands carry secrets; plain http only to a loopback address)"
    );
    let mut form = vec![("Action", "OsgAdmin".to_owned()), ("Version", "2010-05-08".to_owned())];
    // A file the command reads is read here, and sent.
    if let Some(file) = admin::input_file(&mut command) {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(&*file).with_context(|| format!("reading {}", file.display()))?
        };
        *file = "-".into();
        form.push(("Input", text));
    }
    form.push(("Command", serde_json::to_string(&command)?));
    if json {
        form.push(("Json", "true".to_owned()));
    }
    // A redirect would send the form (secrets included) somewhere else.
    let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &options.endpoint_ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("{}: not PEM", path.display()))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    let client = client.build()?;
    let mut request = client.post(url.clone()).form(&form).build()?;
    sign(&mut request, &crate::credentials::load().await?)?;
    let answer = client
        .execute(request)
        .await
        .map_err(|e| anyhow!("{endpoint}: {}", causes(&e)))?;
    let status = answer.status();
    let body = answer.text().await.map_err(|e| anyhow!("{endpoint}: {}", causes(&e)))?;
    if status.is_success() {
        let output = element(&body, "Output").with_context(|| format!("{endpoint} answered no output: {body}"))?;
        print!("{output}");
        return Ok(());
    }
    match (element(&body, "Code"), element(&body, "Message")) {
        (Some(code), Some(message)) => bail!("{endpoint} refused the command: {code}: {message}"),
        _ => bail!("{endpoint} answered {status}: {body}"),
    }
}

/// Signs `request` (its form body) with SigV4 for IAM.
fn sign(request: &mut reqwest::Request, credentials: &aws_credential_types::Credentials) -> anyhow::Result<()> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default()
        .to_vec();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    for (name, value) in instructions.headers() {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
            reqwest::header::HeaderValue::from_str(value)?,
        );
    }
    Ok(())
}

/// An error's message and its causes', for a person (connection refused, certificate unknown).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The text of the first `<name>` element of an IAM answer, unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let text = &xml[start..end];
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{BucketCommand, KeyCommand};

    #[test]
    fn actions_are_the_command_path() {
        let quota = AdminCommand::Bucket(BucketCommand::Stats { name: None });
        assert_eq!(action(&quota), "osg:BucketStats");
        assert_eq!(action(&AdminCommand::Bucket(BucketCommand::List)), "osg:BucketList");
        let disable = AdminCommand::Key(KeyCommand::Disable {
            access_key: "AK".into(),
        });
        assert_eq!(action(&disable), "osg:KeyDisable");
        let usage = AdminCommand::Usage(admin::UsageArgs { account: None });
        assert_eq!(action(&usage), "osg:Usage");
    }

    #[test]
    fn elements_are_unescaped_once() {
        let xml = "<R><Output>a &lt;b&gt; &amp;lt; &quot;c&apos;\n</Output></R>";
        assert_eq!(element(xml, "Output").unwrap(), "a <b> &lt; \"c'\n");
        assert_eq!(element(xml, "Code"), None);
    }
}
