//! s3s takes a header with an empty value as absent, so a request with an empty `Content-MD5`
//! would be stored without the digest check its sender asked for. AWS answers it
//! `400 InvalidDigest`.

use http::{HeaderMap, StatusCode};

use super::Refusal;

pub fn check(headers: &HeaderMap) -> Result<(), Refusal> {
    let empty = headers
        .get_all("content-md5")
        .iter()
        .any(|v| v.as_bytes().trim_ascii().is_empty());
    if empty {
        return Err(Refusal::new(
            "InvalidDigest",
            StatusCode::BAD_REQUEST,
            "The Content-MD5 you specified was invalid.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_content_md5_is_invalid() {
        let mut headers = HeaderMap::new();
        assert!(check(&headers).is_ok());
        headers.insert("content-md5", "kAFQmDzST7DWlj99KOF/cg==".parse().unwrap());
        assert!(check(&headers).is_ok());
        for empty in ["", "  "] {
            headers.insert("content-md5", empty.parse().unwrap());
            assert_eq!(check(&headers).unwrap_err().code, "InvalidDigest");
        }
    }
}
