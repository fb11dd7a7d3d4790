//! A local HTTP server for the fakes: bound to 127.0.0.1 on a free port, stopped on drop.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

const BIND_LIMIT: Duration = Duration::from_secs(10);
const BIND_POLL: Duration = Duration::from_millis(50);

pub(crate) struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    pub(crate) async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for a fake server");
        Self::serve(listener, router)
    }

    /// Serves on `127.0.0.1:<port>` (a port reserved earlier with [`reserve_port`]); retries the
    /// bind for a while in case the port is still being released.
    pub(crate) async fn start_on(port: u16, router: Router) -> Self {
        let deadline = Instant::now() + BIND_LIMIT;
        loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => return Self::serve(listener, router),
                Err(err) if Instant::now() >= deadline => {
                    panic!("cannot bind 127.0.0.1:{port} for a fake server: {err}")
                }
                Err(_) => sleep(BIND_POLL).await,
            }
        }
    }

    fn serve(listener: TcpListener, router: Router) -> Self {
        let addr = listener
            .local_addr()
            .expect("local address of a fake server");
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("fake server stopped with an error");
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A free local port, not listened on: connections to it are refused until a server starts on
/// it with [`LocalServer::start_on`].
pub(crate) fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free local port")
        .port()
}
