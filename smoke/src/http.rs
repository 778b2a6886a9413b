//! HTTP/1.1, just what the runner, the echo upstream and the collector need: a client
//! that sends one request per connection within a deadline, and a small threaded
//! server on loopback.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bodies larger than this are refused rather than buffered.
const MAX_BODY: usize = 64 << 20;
/// Request or response heads larger than this are refused.
const MAX_HEAD: usize = 256 << 10;

/// A response as the client read it.
#[derive(Clone, Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A stream whose reads fail once an overall deadline has passed, so that no read of
/// a whole message can take longer than its budget.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn bad_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one line ending in LF (CR stripped). `None` at end of stream before any byte.
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(bad_data("message head too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of a line"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a start line and headers. `None` when the stream ends before a message.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<(String, Vec<(String, String)>)>> {
    let mut budget = MAX_HEAD;
    let start = loop {
        match read_line(reader, &mut budget)? {
            None => return Ok(None),
            // Tolerate empty lines between messages (RFC 9112, section 2.2).
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the headers"))?;
        if line.is_empty() {
            return Ok(Some((start, headers)));
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad_data(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

pub(crate) fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("chunked")))
}

/// Reads a body framed by `Transfer-Encoding: chunked` or `Content-Length`; without
/// either, to the end of the stream when `until_eof` (a response) or empty (a request).
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)], until_eof: bool) -> io::Result<Vec<u8>> {
    if is_chunked(headers) {
        return read_chunked(reader);
    }
    if let Some(length) = header(headers, "content-length") {
        let length: usize = length.parse().map_err(|_| bad_data(format!("bad content-length {length:?}")))?;
        if length > MAX_BODY {
            return Err(bad_data("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        reader.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in a chunked body"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match read_line(reader, &mut budget)? {
                    None => return Ok(body),
                    Some(line) if line.is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad_data("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Sends one request on a fresh connection (`connection: close`) and reads the
/// response, all within `timeout`. `host` and `content-length` are added unless the
/// caller set them.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if header(headers, "host").is_none() {
        let _ = write!(head, "host: {addr}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let body = body.unwrap_or_default();
    if header(headers, "content-length").is_none()
        && !is_chunked(headers)
        && (!body.is_empty() || method_has_body(method))
    {
        let _ = write!(head, "content-length: {}\r\n", body.len());
    }
    if header(headers, "connection").is_none() {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    (&stream).write_all(&message)?;

    let mut reader = BufReader::new(DeadlineStream { stream, deadline });
    loop {
        let (start, headers) = read_head(&mut reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed without a response"))?;
        let status = parse_status_line(&start)?;
        // Interim responses (100 Continue) come before the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
        let body = if no_body { Vec::new() } else { read_body(&mut reader, &headers, true)? };
        return Ok(Response { status, headers, body });
    }
}

fn method_has_body(method: &str) -> bool {
    ["POST", "PUT", "PATCH"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

fn parse_status_line(line: &str) -> io::Result<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad_data(format!("not an HTTP/1.x response: {line:?}")));
    }
    status.parse().map_err(|_| bad_data(format!("bad status line {line:?}")))
}

/// A request as a server received it.
#[derive(Clone, Debug)]
pub(crate) struct ServerRequest {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// What a server answers.
pub(crate) struct ServerResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Held back this long before the answer is written.
    pub(crate) delay: Duration,
}

pub(crate) type Handler = dyn Fn(&ServerRequest) -> ServerResponse + Send + Sync;

/// A tiny threaded HTTP/1.1 server on `127.0.0.1` (one thread per connection, which
/// is plenty for one Envoy with one worker), stopped when dropped.
pub(crate) struct HttpServer {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<HashMap<u64, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub(crate) fn start(name: &str, handler: Arc<Handler>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let accept = {
            let (stop, connections, name) = (stop.clone(), connections.clone(), name.to_string());
            thread::Builder::new().name(format!("meshc-smoke-{name}")).spawn(move || {
                let mut next_id = 0u64;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    let id = next_id;
                    next_id += 1;
                    if let Ok(clone) = stream.try_clone() {
                        lock(&connections).insert(id, clone);
                    }
                    let (handler, registered) = (handler.clone(), connections.clone());
                    let spawned = thread::Builder::new().name(format!("meshc-smoke-{name}-conn")).spawn(move || {
                        let _ = serve_connection(stream, &*handler);
                        lock(&registered).remove(&id);
                    });
                    if spawned.is_err() {
                        lock(&connections).remove(&id);
                    }
                }
            })?
        };
        Ok(HttpServer { addr, stop, connections, accept: Some(accept) })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for (_, stream) in lock(&self.connections).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Locks even a poisoned mutex, so that a panic in one connection's thread does not
/// stop the others.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves requests on one connection until the peer closes it, asks to close, or it
/// has been idle for five minutes.
fn serve_connection(stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((start, headers)) = read_head(&mut reader)? else { return Ok(()) };
        let mut parts = start.split(' ');
        let (method, target, version) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = read_body(&mut reader, &headers, false)?;
        let close = version == "HTTP/1.0"
            || header(&headers, "connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let request = ServerRequest { method: method.to_string(), target: target.to_string(), headers, body };
        let response = handler(&request);
        if !response.delay.is_zero() {
            thread::sleep(response.delay);
        }
        let mut out = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
        for (name, value) in &response.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let bodiless = response.status == 204 || response.status == 304;
        if !bodiless {
            let _ = write!(out, "content-length: {}\r\n", response.body.len());
        }
        if close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !bodiless && !request.method.eq_ignore_ascii_case("HEAD") {
            bytes.extend_from_slice(&response.body);
        }
        // One write: with Nagle off this is one segment, and no delayed ACK can stall it.
        writer.write_all(&bytes)?;
        if close {
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_read() {
        let mut reader = io::Cursor::new(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nT: 1\r\n\r\n".to_vec());
        assert_eq!(read_chunked(&mut reader).unwrap(), b"Wikipedia");
    }
}
