//! A guard in front of tower-lsp-server's reader: every message that arrives is
//! checked to be a JSON-RPC message before the server sees it.
//!
//! tower-lsp-server answers a body that is not JSON (or not a JSON-RPC message) with
//! an error and then stops reading, which would leave the editor without a server
//! after one bad message. Here such a body is replaced by a request of our own
//! method [`MALFORMED_METHOD`], which the server answers with the right error code
//! (-32700 for a body that is not JSON, -32600 for one that is not a message), under
//! the message's own id when it had one; the server then goes on reading.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// The method that stands for a malformed message.
pub const MALFORMED_METHOD: &str = "meshc/malformedMessage";

/// The largest message accepted; a larger one is answered as malformed and skipped.
const MAX_MESSAGE: usize = 256 << 20;

/// A reader for the server: the messages of `input`, each checked, in order.
pub fn guarded(input: impl AsyncRead + Unpin + Send + 'static) -> DuplexStream {
    let (server_side, mut our_side) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        let mut count: u64 = 0;
        loop {
            let Some(length) = read_head(&mut input).await else { break };
            let body = match length {
                Some(length) if length <= MAX_MESSAGE => {
                    let mut body = vec![0; length];
                    if input.read_exact(&mut body).await.is_err() {
                        break;
                    }
                    body
                }
                _ => {
                    count += 1;
                    substitute(None, -32700, "the message has no valid Content-Length", count)
                }
            };
            let body = match checked(&body) {
                Ok(()) => body,
                Err((id, code, reason)) => {
                    count += 1;
                    substitute(id, code, &reason, count)
                }
            };
            let frame = [format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes(), body].concat();
            if our_side.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = our_side.shutdown().await;
    });
    server_side
}

/// Reads the header lines of one message: `None` at the end of the input,
/// `Some(None)` when there was no usable `Content-Length`.
async fn read_head(input: &mut (impl AsyncBufReadExt + Unpin)) -> Option<Option<usize>> {
    let mut length = None;
    let mut any = false;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if any {
                return Some(length);
            }
            continue;
        }
        any = true;
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok();
        }
    }
}

/// Whether a body is a JSON-RPC request, notification or response; otherwise its id
/// (when it has one), the error code and why.
fn checked(body: &[u8]) -> Result<(), (Option<Value>, i64, String)> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| (None, -32700, format!("the message is not JSON: {e}")))?;
    let id = value.get("id").cloned().filter(|id| id.is_string() || id.is_number());
    let is_message = value.is_object()
        && (value.get("method").is_some_and(Value::is_string)
            || (id.is_some() && (value.get("result").is_some() || value.get("error").is_some())));
    if is_message {
        Ok(())
    } else {
        Err((id, -32600, "the message is not a JSON-RPC request, notification or response".into()))
    }
}

/// The request that stands for a malformed message.
fn substitute(id: Option<Value>, code: i64, reason: &str, count: u64) -> Vec<u8> {
    let id = id.unwrap_or_else(|| json!(format!("meshc-malformed-{count}")));
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": MALFORMED_METHOD,
        "params": { "code": code, "message": reason }
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart_from_other_bodies() {
        assert!(checked(br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#).is_ok());
        assert!(checked(br#"{"jsonrpc":"2.0","method":"initialized"}"#).is_ok());
        assert!(checked(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).is_ok());
        assert_eq!(checked(b"{\"jsonrpc\":").unwrap_err().1, -32700);
        let (id, code, _) = checked(br#"{"jsonrpc":"2.0","id":7}"#).unwrap_err();
        assert_eq!((id, code), (Some(json!(7)), -32600));
    }
}
