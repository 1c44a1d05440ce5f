//! One validation layer for text input, whatever way it arrives: path parameters and query
//! parameters (checked by the `Authed` extractor once the caller is known, so an
//! unauthenticated caller learns nothing else), and the strings of a JSON body (checked by
//! `ApiJson`). The rule is the ETL's (`etl::schema::text_problem`), so the API and the file
//! pipelines refuse the same values: a NUL in any text is a 422 naming the parameter or the
//! JSON path, on both databases, before any query runs.

use actix_web::HttpRequest;

use crate::error::Error;
use crate::etl::schema::text_problem;

/// Path parameters are identifiers (no control characters); query values carry no NUL.
pub fn check_request(req: &HttpRequest) -> Result<(), Error> {
    for (name, value) in req.match_info().iter() {
        let decoded = percent_decoded(value);
        if let Some(problem) = text_problem(&decoded, true) {
            return Err(Error::invalid(
                name,
                format!("path parameter `{name}` {problem}"),
            ));
        }
    }
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if let Some(problem) = text_problem(&name, false).or_else(|| text_problem(&value, false)) {
            return Err(Error::invalid(
                name.replace('\0', "\\0"),
                format!("query parameter `{}` {problem}", name.replace('\0', "\\0")),
            ));
        }
    }
    Ok(())
}

/// actix hands some path values over still percent-encoded (`%00` among them).
fn percent_decoded(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| value.to_string())
}

/// A JSON body's strings (keys included) carry no NUL; the error names the JSON path.
/// Cheap for the usual body: the tree is walked only when the text holds a `\u0000` escape.
pub fn check_json(body: &[u8]) -> Result<(), Error> {
    let maybe = body
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && &w[2..] == b"0000");
    if !maybe {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(()); // the typed parse reports the syntax error
    };
    match find_nul(&value, String::new()) {
        Some(path) => Err(Error::invalid(
            path.clone(),
            format!("`{path}` must not contain NUL characters"),
        )),
        None => Ok(()),
    }
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    let here = |p: &str| {
        if p.is_empty() {
            "(body)".to_string()
        } else {
            p.to_string()
        }
    };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| here(&path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let child = if path.is_empty() {
                k.replace('\0', "\\0")
            } else {
                format!("{path}.{}", k.replace('\0', "\\0"))
            };
            if k.contains('\0') {
                Some(child)
            } else {
                find_nul(v, child)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_a_body_is_named_by_its_path() {
        let e = check_json(br#"{"events":[{"user_id":"ok"},{"user_id":"a\u0000b"}]}"#);
        assert!(
            matches!(e, Err(Error::Invalid { field: Some(f), .. }) if f == "events[1].user_id")
        );
        assert!(check_json(br#"{"text":"a\\u0000 is only text"}"#).is_ok());
        assert!(check_json(br#"{"k":"fine"}"#).is_ok());
    }
}
