//! IAM's XML answers: `<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>`.

use std::fmt::Write as _;

/// IAM's and STS's XML namespaces.
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// A response being built: the action name and the inner XML of its result.
pub struct Xml {
    action: &'static str,
    namespace: &'static str,
    result: Option<String>,
}

impl Xml {
    /// A response with a `<ActionResult>` element.
    pub fn result(action: &'static str) -> Self {
        Self {
            action,
            namespace: IAM_NS,
            result: Some(String::new()),
        }
    }

    /// A response with no result (the Delete and Update actions).
    pub fn empty(action: &'static str) -> Self {
        Self {
            action,
            namespace: IAM_NS,
            result: None,
        }
    }

    pub fn sts(mut self) -> Self {
        self.namespace = STS_NS;
        self
    }

    /// Appends `<name>value</name>` (escaped) to the result.
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.push(name, value);
        self
    }

    /// Appends raw, already-built XML to the result.
    pub fn raw(mut self, xml: &str) -> Self {
        if let Some(r) = &mut self.result {
            r.push_str(xml);
        }
        self
    }

    fn push(&mut self, name: &str, value: &str) {
        if let Some(r) = &mut self.result {
            let _ = write!(r, "<{name}>{}</{name}>", escape(value));
        }
    }

    pub fn finish(self, request_id: &str) -> String {
        let a = self.action;
        let result = self
            .result
            .map(|r| format!("<{a}Result>{r}</{a}Result>"))
            .unwrap_or_default();
        format!(
            "<{a}Response xmlns=\"{}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId>\
             </ResponseMetadata></{a}Response>",
            self.namespace
        )
    }
}

/// `<name>` elements built from `(field, value)` pairs.
pub fn element(name: &str, fields: &[(&str, &str)]) -> String {
    let mut out = format!("<{name}>");
    for (field, value) in fields {
        let _ = write!(out, "<{field}>{}</{field}>", escape(value));
    }
    let _ = write!(out, "</{name}>");
    out
}

/// A time as IAM writes it.
pub fn date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_iam_responses() {
        let xml = Xml::result("GetUser")
            .raw(&element("User", &[("UserName", "a&b")]))
            .finish("RID");
        assert_eq!(
            xml,
            "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User>\
             <UserName>a&amp;b</UserName></User></GetUserResult><ResponseMetadata><RequestId>RID</RequestId>\
             </ResponseMetadata></GetUserResponse>"
        );
        let empty = Xml::empty("DeleteUser").finish("R");
        assert!(empty.starts_with("<DeleteUserResponse") && !empty.contains("DeleteUserResult"));
    }
}
