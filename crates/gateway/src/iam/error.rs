//! IAM errors, rendered as IAM's `<ErrorResponse>`; the store's errors map here in one place.

use http::StatusCode;

use super::xml::escape;

#[derive(Debug)]
pub struct IamError {
    code: &'static str,
    status: u16,
    message: String,
}

impl IamError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }

    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", 404, message)
    }

    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new("MalformedPolicyDocument", 400, message)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn to_xml(&self, request_id: &str) -> String {
        let kind = if self.status >= 500 { "Receiver" } else { "Sender" };
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type>\
             <Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            self.code,
            escape(&self.message)
        )
    }
}

impl From<crate::error::Error> for IamError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Meta(e) => e.into(),
            other => {
                tracing::error!(error = %other, "IAM request failed");
                Self::new(
                    "ServiceFailure",
                    500,
                    "The request processing has failed because of an unknown error.",
                )
            }
        }
    }
}

impl From<osg_meta::Error> for IamError {
    fn from(e: osg_meta::Error) -> Self {
        use osg_meta::Error as M;
        match e {
            M::EntityExists(what) => Self::new("EntityAlreadyExists", 409, format!("{what} already exists.")),
            M::NoSuchEntity(what) => Self::no_such_entity(format!("The {what} cannot be found.")),
            M::DeleteConflict(why) => Self::new("DeleteConflict", 409, why),
            M::LimitExceeded(why) => Self::new("LimitExceeded", 409, why),
            M::Invalid(why) => Self::new("InvalidInput", 400, why),
            other => {
                tracing::error!(error = %other, "metadata store failure");
                Self::new(
                    "ServiceFailure",
                    500,
                    "The request processing has failed because of an unknown error.",
                )
            }
        }
    }
}
