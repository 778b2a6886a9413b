//! `meshc-language-server`: the meshc language server on stdin and stdout.

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("meshc-language-server {}", meshc_language_server::server_version());
        return;
    }
    meshc_language_server::run_stdio();
}
