//! Logging set-up. Logs go to stderr so stdout stays clean for command output (a new API key,
//! the OpenAPI document, `--json` tables) that scripts read.
//!
//! JSON lines carry the event's fields at the top level and the current span once (`span`):
//! the list of enclosing spans (`spans`) would repeat the request span on every line. Lists
//! are JSON arrays, and a client's broken connection is not an ERROR (see [`ClientFaults`]).

use std::fmt::Write as _;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber once; later calls are no-ops (tests build several apps).
pub fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = match settings.log_format {
        LogFormat::Json => json_subscriber(filter, std::io::stderr).try_init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .finish()
            .with(ClientFaults)
            .try_init(),
    };
}

/// The JSON-lines subscriber, writing to `writer`.
fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let format = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(ArraysAsJson(format))
        .finish()
        .with(ClientFaults)
}

/// Writes a field recorded as a list (`?ids`, whose `Debug` text is a JSON array) as a JSON
/// array instead of a string, at the top level and in the span, so log tools can query it.
struct ArraysAsJson<F>(F);

impl<S, N, F> FormatEvent<S, N> for ArraysAsJson<F>
where
    F: FormatEvent<S, N>,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(mut value) => {
                unfold_arrays(&mut value);
                if let Some(span) = value.get_mut("span") {
                    unfold_arrays(span);
                }
                writeln!(writer, "{value}")
            }
            Err(_) => writer.write_str(&line),
        }
    }
}

/// Replaces string fields (not the message) that hold a JSON array with the array.
fn unfold_arrays(value: &mut serde_json::Value) {
    let Some(fields) = value.as_object_mut() else {
        return;
    };
    for (name, field) in fields.iter_mut() {
        let Some(text) = field
            .as_str()
            .filter(|t| t.starts_with('[') && t.ends_with(']'))
        else {
            continue;
        };
        if name == "message" {
            continue;
        }
        if let Ok(array @ serde_json::Value::Array(_)) = serde_json::from_str(text) {
            *field = array;
        }
    }
}

/// actix-http logs a client's fault on its connection (a request it cannot parse, headers
/// over its limit, a reset) at ERROR as "stream error: ...". Those are not the service's
/// errors: an operator alerting on ERROR would be paged by any port scanner. They are logged
/// again at DEBUG (target `recast::http`) and the ERROR line is dropped.
struct ClientFaults;

const ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher";

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn event_enabled(&self, event: &Event<'_>, _cx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if meta.target() != ACTIX_DISPATCHER || *meta.level() != tracing::Level::ERROR {
            return true;
        }
        let mut message = MessageText::default();
        event.record(&mut message);
        if !message.0.starts_with("stream error") {
            return true;
        }
        tracing::debug!(target: "recast::http", error = %message.0, "client connection ended with an error");
        false
    }
}

#[derive(Default)]
struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_span_once_and_the_fields_at_the_top() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = json_subscriber(EnvFilter::new("info"), move || sink.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1");
            let _entered = span.enter();
            tracing::info!(rows = 3, views = ?["a", "b"], "landed [1]");
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: request parse error: invalid Header provided");
            tracing::error!(target: "actix_http::h1::dispatcher", "Response payload stream error: boom");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["rows"], 3, "{line}");
        assert_eq!(line["span"]["request_id"], "r-1", "{line}");
        assert!(
            line.get("spans").is_none(),
            "the span is not repeated: {line}"
        );
        assert_eq!(line["views"], serde_json::json!(["a", "b"]), "{line}");
        assert_eq!(line["message"], "landed [1]", "{line}");
        // A client's parse error is not logged at ERROR; the service's own errors still are.
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("\"ERROR\"")).collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(errors[0].contains("payload stream error"), "{text}");
    }
}
