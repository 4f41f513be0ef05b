//! The `--sink` URI parser (InfluxDB, remote write, stdout, with their options, sizes and
//! durations). Errors that never show a password, never panics.
#![no_main]

use crowsnest_sinks::uri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    match crowsnest_sinks::parse_uri(text) {
        Ok(spec) => drop(format!("{spec:?}")),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            // A password given as `scheme://user:password@host` (before the query) never
            // shows in the error.
            let head = text.split('?').next().unwrap_or_default();
            if let Some(s) = head.find("://")
                && let Some(at) = head.rfind('@')
                && at > s
                && let Some((_, password)) = head[s + 3..at].split_once(':')
                && !password.is_empty()
                && password != "***"
            {
                // (Unless the same text is elsewhere in the URI too: the rest is shown as
                // written.)
                let userinfo = &head[s + 3..=at];
                assert!(
                    text.matches(userinfo).count() > 1 || !message.contains(userinfo),
                    "{message}"
                );
            }
        }
    }
    let _ = uri::parse_size(text);
    let _ = uri::parse_duration(text);
});
